// The network-namespace lab itself: hosts reach each other by name over the bridge, a pulled
// cable isolates a host and plugging it back restores it, and teardown leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, NetLab, netnsUnavailableReason, waitFor } from './netns.js';

const SERVER = `
  const http = require('node:http');
  const os = require('node:os');
  http.createServer((req, res) => res.end(JSON.stringify({ path: req.url, pid: process.pid }))).listen(8080, '0.0.0.0');
`;

test('netns lab: name resolution, link cut and restore, clean teardown', { timeout: 90_000 }, async (t) => {
  const reason = await netnsUnavailableReason();
  if (reason !== null) {
    t.skip(`network namespaces cannot be created here: ${reason}`);
    return;
  }
  const lab = await NetLab.create();
  let serverPid: number | undefined;
  try {
    await lab.addHost('srv', 10);
    await lab.addHost('cli', 20);
    const server = lab.spawn('srv', process.execPath, ['-e', SERVER]);
    serverPid = server.pid;
    const agent = await Agent.start(lab, 'cli');

    // Reached by its name, through the bridge, from another namespace.
    const first = await waitFor('the server to answer', async () => {
      const a = await agent.json<{ path: string; pid: number }>('http://srv:8080/hello', { timeoutMs: 1_000 });
      return a;
    }, 15_000);
    assert.equal(first.status, 200);
    assert.equal(first.body.path, '/hello');
    assert.equal(first.body.pid, server.pid, 'ip netns exec must exec the command itself, so its pid is ours to kill');

    await lab.linkDown('srv');
    await assert.rejects(agent.http('http://srv:8080/', { timeoutMs: 1_000 }), /srv:8080/);
    await lab.linkUp('srv');
    const again = await waitFor('the server to be reachable again', () => agent.json('http://srv:8080/back', { timeoutMs: 1_000 }), 15_000);
    assert.equal(again.status, 200);
  } finally {
    const names = [...lab.namespaceNames];
    await lab.destroy();
    assert.deepEqual(await lab.liveNamespaces(), [], 'every namespace of the lab is deleted');
    for (const ns of names) assert.equal(existsSync(join('/etc/netns', ns)), false, `/etc/netns/${ns} removed`);
    if (serverPid !== undefined) assert.throws(() => process.kill(serverPid!, 0), 'the server process is gone');
  }
});
