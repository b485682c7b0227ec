// Node data is private to its user: directories are created 0700 and existing ones with looser
// permissions are tightened (etcd CVE-2020-15113 kept them), small files are written 0600.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotStore, StateMachine, Wal } from '../../storage/index.js';
import { mkdirDurable, tightenMode, writeFileAtomic } from '../../storage/util/fs.js';
import { tempDir } from './helpers.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('storage permissions', () => {
  it('creates new directories 0700, parents included, whatever the umask leaves', async () => {
    const root = tempDir(after, 'perms');
    const dir = join(root, 'a', 'b', 'c');
    await mkdirDurable(dir);
    for (const p of [join(root, 'a'), join(root, 'a', 'b'), dir]) assert.equal(mode(p), 0o700, p);
  });

  it('tightens an existing directory that is readable by others, and leaves a private one alone', async () => {
    const root = tempDir(after, 'perms');
    const loose = join(root, 'loose');
    mkdirSync(loose);
    chmodSync(loose, 0o777);
    await mkdirDurable(loose);
    assert.equal(mode(loose), 0o700);
    const strict = join(root, 'strict');
    mkdirSync(strict);
    chmodSync(strict, 0o500);
    await mkdirDurable(strict);
    assert.equal(mode(strict), 0o500, 'never loosened');
    chmodSync(strict, 0o700);
  });

  it('writes small files 0600 and tightens a loose file on request', async () => {
    const root = tempDir(after, 'perms');
    const f = join(root, 'f');
    await writeFileAtomic(f, 'x');
    assert.equal(mode(f), 0o600);
    const g = join(root, 'g');
    writeFileSync(g, 'y', { mode: 0o644 });
    assert.equal(await tightenMode(g, 0o600), 0o644);
    assert.equal(mode(g), 0o600);
    assert.equal(await tightenMode(g, 0o600), undefined);
  });

  it('the WAL, snapshot and state-machine directories of an existing loose data dir are tightened on open', async () => {
    const root = tempDir(after, 'perms');
    for (const d of ['wal', 'snap', 'sm']) {
      mkdirSync(join(root, d));
      chmodSync(join(root, d), 0o755);
    }
    const { wal } = await Wal.open(join(root, 'wal'));
    await wal.close();
    await SnapshotStore.open(join(root, 'snap'));
    const sm = await StateMachine.open(join(root, 'sm'));
    await sm.close();
    for (const d of ['wal', 'snap', 'sm']) assert.equal(mode(join(root, d)), 0o700, d);
  });
});
