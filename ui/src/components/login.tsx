// Shown when the node answers 401: a user name and password (sent as Basic) or a token (sent as
// Bearer) on every later request, kept for this tab only.
import { useState } from 'preact/hooks';
import { setCredentials } from '../api/client.js';
import { Notice } from './notice.js';

export function Login({ reason, onSignedIn }: { reason: string; onSignedIn: () => void }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const submit = (e: Event): void => {
    e.preventDefault();
    setCredentials(mode === 'password' ? { kind: 'basic', user, password } : { kind: 'bearer', token });
    onSignedIn();
  };
  return (
    <section class="login panel" aria-labelledby="login-title">
      <h1 id="login-title">Sign in</h1>
      <Notice kind="info">This node asks who you are: {reason}</Notice>
      <form onSubmit={submit}>
        <fieldset class="segmented">
          <legend>Sign in with</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'password'} onChange={() => setMode('password')} /> user name and password
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'token'} onChange={() => setMode('token')} /> a token
          </label>
        </fieldset>
        {mode === 'password' ? (
          <>
            <label for="login-user">User name</label>
            <input id="login-user" value={user} required autocomplete="username" onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
            <label for="login-password">Password</label>
            <input id="login-password" type="password" value={password} required autocomplete="current-password" onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
          </>
        ) : (
          <>
            <label for="login-token">Token</label>
            <input id="login-token" value={token} required autocomplete="off" onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
          </>
        )}
        <div class="actions">
          <button type="submit" class="primary">
            Sign in
          </button>
        </div>
      </form>
    </section>
  );
}
