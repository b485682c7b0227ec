// One in-process member for the SDK's auth tests: started on a free port in a temp data dir, a
// client factory whose clients are closed with it, and the users those tests share.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/index.js';
import { startNode } from '../../src/node/index.js';
import { PlacementClient, type PlacementClientOptions } from '../../src/client/index.js';
import { freePorts } from './cluster.js';

export interface AuthTestNode {
  grpcAddress: string;
  /** A client of this member (no discovery), closed by stop(). */
  client(options?: Partial<PlacementClientOptions>): PlacementClient;
  /** Closes the clients, stops the member, removes its data. */
  stop(): Promise<void>;
}

export async function startAuthTestNode(name: string): Promise<AuthTestNode> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const [gp] = await freePorts(1);
  const cfg = resolveConfig({ id: '1', dataDir: join(dir, 'data'), listen: `127.0.0.1:${gp}`, http: 'off', logLevel: 'silent' }, {});
  const clients: PlacementClient[] = [];
  let running;
  try {
    running = await startNode(cfg);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const grpcAddress = `127.0.0.1:${running.grpcPort}`;
  return {
    grpcAddress,
    client(options = {}) {
      const c = new PlacementClient({ endpoints: [grpcAddress], discoverMembers: false, ...options });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** root (password rootpw) and alice (alicepw, readwrite on /t/), then auth on. */
export async function enableAuthWithAlice(admin: PlacementClient): Promise<void> {
  await admin.authAdmin.userAdd('root', 'rootpw');
  await admin.authAdmin.userGrantRole('root', 'root');
  await admin.authAdmin.userAdd('alice', 'alicepw');
  await admin.authAdmin.roleAdd('t');
  await admin.authAdmin.roleGrantPermission('t', { type: 'readwrite', key: '/t/', prefix: true });
  await admin.authAdmin.userGrantRole('alice', 't');
  await admin.authAdmin.enable();
}
