// Users (GET/POST /v1/users, PUT /v1/users/{name}/permissions, DELETE /v1/users/{name}): who
// exists and what each may read and write; roles appear when the API documents them.
import { useContext, useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { Permission, User } from '../api/types.js';
import { ConfirmDialog } from '../components/dialog.js';
import { Notice, errorText } from '../components/notice.js';
import { ApiContext } from '../context.js';
import { formatDateTime, usePoll } from '../hooks.js';
import { Collection } from './resources.js';

function PermissionsEditor({ value, onChange, idPrefix }: { value: Permission[]; onChange: (p: Permission[]) => void; idPrefix: string }) {
  const set = (i: number, change: Partial<Permission>): void => onChange(value.map((p, j) => (j === i ? { ...p, ...change } : p)));
  return (
    <fieldset class="permissions">
      <legend>Permissions on key prefixes</legend>
      {value.map((p, i) => (
        <div class="inline" key={i}>
          <label for={`${idPrefix}-prefix-${i}`} class="visually-hidden">
            Prefix {i + 1}
          </label>
          <input id={`${idPrefix}-prefix-${i}`} class="mono" placeholder="/brokers/ (empty: every key)" value={p.prefix} onInput={(e) => set(i, { prefix: (e.target as HTMLInputElement).value })} />
          <label>
            <input type="checkbox" checked={p.read} onChange={(e) => set(i, { read: (e.target as HTMLInputElement).checked })} /> read
          </label>
          <label>
            <input type="checkbox" checked={p.write} onChange={(e) => set(i, { write: (e.target as HTMLInputElement).checked })} /> write
          </label>
          <button type="button" onClick={() => onChange(value.filter((_, j) => j !== i))} aria-label={`Remove permission ${i + 1}`}>
            Remove
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...value, { prefix: '', read: true, write: false }])}>
        Add a prefix
      </button>
    </fieldset>
  );
}

function NewUser({ onDone }: { onDone: () => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [permissions, setPermissions] = useState<Permission[]>([]);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      await api('POST', 'v1/users', { body: { name, password, permissions } });
      setName('');
      setPassword('');
      setPermissions([]);
      onDone();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form class="editor panel" onSubmit={(e) => void submit(e)} aria-labelledby="new-user-title">
      <h2 id="new-user-title">New user</h2>
      <label for="user-name">Name</label>
      <input id="user-name" value={name} required autocomplete="off" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      <label for="user-password">Password (at least 8 characters)</label>
      <input id="user-password" type="password" value={password} required minLength={8} autocomplete="new-password" onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
      <PermissionsEditor value={permissions} onChange={setPermissions} idPrefix="new" />
      {error ? <Notice kind="error">Not created: {error}</Notice> : null}
      <div class="actions">
        <button type="submit" class="primary">
          Create user
        </button>
      </div>
    </form>
  );
}

function UserRow({ user, onChanged }: { user: User; onChanged: () => void }) {
  const [editing, setEditing] = useState<Permission[] | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const save = async (): Promise<void> => {
    try {
      await api('PUT', `v1/users/${encodeURIComponent(user.name)}/permissions`, { body: { permissions: editing } });
      setEditing(null);
      onChanged();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const remove = async (): Promise<void> => {
    setConfirming(false);
    try {
      await api('DELETE', `v1/users/${encodeURIComponent(user.name)}`);
      onChanged();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <tr data-user={user.name}>
      <th scope="row">{user.name}</th>
      <td>
        {editing ? (
          <PermissionsEditor value={editing} onChange={setEditing} idPrefix={`u-${user.name}`} />
        ) : user.permissions.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="plain">
            {user.permissions.map((p, i) => (
              <li key={i}>
                <span class="mono">{p.prefix || '(every key)'}</span> {[p.read ? 'read' : null, p.write ? 'write' : null].filter(Boolean).join(', ') || 'no access'}
              </li>
            ))}
          </ul>
        )}
        {error ? <Notice kind="error">{error}</Notice> : null}
      </td>
      <td>{formatDateTime(user.updatedAtMs)}</td>
      <td class="actions">
        {editing ? (
          <>
            <button type="button" onClick={() => setEditing(null)}>
              Cancel
            </button>
            <button type="button" class="primary" onClick={() => void save()}>
              Save
            </button>
          </>
        ) : (
          <>
            <button type="button" onClick={() => setEditing(user.permissions.map((p) => ({ ...p })))} aria-label={`Edit permissions of ${user.name}`}>
              Edit
            </button>
            <button type="button" class="danger" onClick={() => setConfirming(true)} aria-label={`Delete user ${user.name}`}>
              Delete…
            </button>
          </>
        )}
        <ConfirmDialog open={confirming} title={`Delete user ${user.name}?`} confirmLabel="Delete" danger onConfirm={() => void remove()} onCancel={() => setConfirming(false)}>
          <p>The user can no longer sign in. This cannot be undone.</p>
        </ConfirmDialog>
      </td>
    </tr>
  );
}

export function UsersPage() {
  const description = useContext(ApiContext);
  const users = usePoll((signal) => api<{ users: User[] }>('GET', 'v1/users', { signal }), 5000);
  const roles = description?.collections(['/v1/roles', '/v1/auth/roles'], ['roles']) ?? [];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Users{roles.length > 0 ? ' and roles' : ''}</h1>
      {users.error ? <Notice kind="error">Cannot list users: {errorText(users.error)}</Notice> : null}
      <div class="table-wrap">
        <table id="users">
          <caption>Users (passwords are stored as salted hashes and never shown)</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Permissions</th>
              <th scope="col">Updated</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(users.data?.users ?? []).map((u) => (
              <UserRow key={u.name} user={u} onChanged={users.refresh} />
            ))}
          </tbody>
        </table>
      </div>
      {users.data && users.data.users.length === 0 ? <p class="muted">No users.</p> : null}
      <NewUser onDone={users.refresh} />
      {roles.map((path) => (
        <Collection key={path} path={path} />
      ))}
    </section>
  );
}
