// The dashboard in a real browser (issue 23): headless Chromium loads /ui/ from a FOLLOWER of a
// 3-node cluster and sees the leader and every member; a key created in the browser is read back
// through gRPC (the SDK); an edit is refused when the SDK changed the key between load and save;
// a delete asks first; after the leader is SIGKILLed the page shows the new leader within
// seconds. The Brokers and shards page shows brokers registered through the SDK and the shards
// created on them, finds a shard by name, and shows its new leader after its leader's broker
// unregisters. Every request the page made is an operation of /v1/openapi.json, on the node's own
// origin. Screenshots of each page go to reports/ui/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { buildUi, openBrowser, undocumented, type BrowserSession } from './browser.js';

// axe-core, evaluated in the page through the DevTools protocol (the page's own CSP allows only its scripts).
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The broker cluster registered on the Placement Center for the Brokers and shards page. */
const BROKERS = 'mq';

describe('dashboard in a browser, served by a follower of a 3-node cluster', { timeout: 150_000 }, () => {
  let c: Cluster;
  let b: BrowserSession;
  let client: PlacementClient;
  let leader: number;
  let origin: string;

  before(async () => {
    await buildUi();
    [c, b] = await Promise.all([startCluster({ nodes: 3 }), openBrowser()]);
    leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    origin = `http://${follower.httpAddress}`;
    client = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress), deadlineMs: 10_000 });
    await client.kv.set('/brokers/1', '{"host":"10.0.0.1","port":9092}');
    await client.kv.set('/brokers/1/shards/a', 'leader');
    await client.kv.set('/config/bytes', Buffer.from([0, 1, 2, 255]));
    for (const [id, zone] of [[1, 'eu-1a'], [2, 'eu-1b'], [3, 'eu-1c'], [4, 'eu-1a']] as const) {
      // Nobody heartbeats for them: the TTL outlasts every test before the Brokers page's, however
      // slow a run (60 s once ran out in CI after two slow tests, and the page showed no brokers).
      await client.registry.register(BROKERS, id, { zone, addresses: [`10.0.1.${id}:9092`], ttlSeconds: 900 });
    }
    await client.placement.createShard(BROKERS, 'orders-0', 3);
    await client.placement.createShard(BROKERS, 'payments-0', 2);
  });

  after(async () => {
    client?.close();
    await b?.close();
    await c?.stop();
  });

  const text = (selector: string): Promise<string> => b.page.$eval(selector, (el) => (el as HTMLElement).innerText);

  it('shows the leader and every member, with their own term, indexes, health and version', async () => {
    const follower = c.nodes.find((n) => `http://${n.httpAddress}` === origin)!;
    await b.page.goto(`${origin}/ui/`);
    await b.page.waitForSelector(`#leader[data-leader-id="${leader}"]`, { timeout: 10_000 });
    assert.equal(await text('#leader'), `node ${leader}`);
    assert.equal(await text('#served-by'), `node ${follower.id}`);
    await b.page.waitForFunction(() => document.querySelectorAll('#members tbody tr[data-member-id]').length === 3 && /3 of 3/.test(document.querySelector('#reachable')?.textContent ?? ''));
    for (const n of c.nodes) {
      const row = `#members tr[data-member-id="${n.id}"]`;
      assert.match(await text(`${row} td[data-col="role"]`), n.id === leader ? /^leader/ : /^follower/);
      assert.match(await text(`${row} td[data-col="health"]`), /ready/);
      assert.match(await text(`${row} td[data-col="version"]`), /^\d+\.\d+\.\d+/);
      assert.match(await text(`${row} td[data-col="db"]`), /\d+(\.\d)? (B|KiB|MiB)/);
      assert.match(await text(`${row} td[data-col="applied"]`), /^\d+/);
    }
    // The charts fill from the node's own /metrics (two scrapes make the first point).
    await b.page.waitForFunction(() => /sent \d/.test(document.querySelector('#chart-raft [data-latest]')?.textContent ?? ''), { timeout: 10_000 });
    await b.screenshot('cluster');
    await b.page.click('#theme-toggle');
    await b.page.waitForSelector('html[data-theme="dark"]');
    await b.screenshot('cluster-dark');
    await b.page.click('#theme-toggle');
    // Pages whose APIs this server does not have are not offered.
    const nav = await b.page.$$eval('nav[aria-label="Pages"] a', (as) => as.map((a) => a.getAttribute('data-page')));
    // 'live' appears because the node serves an event stream (GET /v1/watch, text/event-stream).
    assert.deepEqual(nav, ['cluster', 'keys', 'live', 'leases', 'brokers', 'users']);
  });

  it('browses the tree by "/", shows a value as JSON, text and hex', async () => {
    await b.page.click('a[data-page="keys"]');
    await b.page.waitForSelector('#key-entries a[data-prefix="/"]');
    await b.page.click('#key-entries a[data-prefix="/"]');
    await b.page.waitForSelector('#key-entries a[data-prefix="/brokers/"]');
    await b.page.click('#key-entries a[data-prefix="/brokers/"]');
    await b.page.waitForSelector('#key-entries a[data-key="/brokers/1"]');
    assert.deepEqual(
      await b.page.$$eval('#key-entries a', (as) => as.map((a) => a.getAttribute('data-prefix') ?? a.getAttribute('data-key'))),
      ['/brokers/1/', '/brokers/1'],
    );
    await b.page.click('#key-entries a[data-key="/brokers/1"]');
    await b.page.waitForSelector('#value[aria-label="Value as JSON"]');
    assert.equal(await text('#value'), '{\n  "host": "10.0.0.1",\n  "port": 9092\n}');
    assert.match(await text('#history'), /Not available on this server/);
    await b.page.goto(`${origin}/ui/#/keys?prefix=/config/&key=/config/bytes`);
    await b.page.waitForSelector('#value[aria-label="Value as hex"]');
    assert.match(await text('#value'), /^00000000 {2}00 01 02 ff/);
  });

  it('creates a key in the browser; the SDK reads it over gRPC', async () => {
    await b.page.goto(`${origin}/ui/#/keys?prefix=/brokers/`);
    // The page was already on the keys page: wait until it shows this folder, then click in the
    // page. A mouse click at the button's place could land elsewhere when the folder's list arrives
    // in between and moves the button (once in CI: no form, 30 s lost).
    await b.page.waitForSelector('#key-entries a[data-key="/brokers/1"]');
    await clickButton('New key…');
    await b.page.waitForSelector('#new-key');
    await b.page.$eval('#new-key', (el) => ((el as HTMLInputElement).value = ''));
    await b.page.type('#new-key', '/brokers/ui-1');
    await b.page.type('#new-value', '{"host":"10.0.0.9"}');
    await b.page.click('form[aria-labelledby="new-title"] button[type="submit"]');
    await b.page.waitForFunction(() => document.querySelector('#key-title')?.textContent === '/brokers/ui-1');
    await b.page.waitForSelector('#key-entries a[data-key="/brokers/ui-1"]');
    assert.equal((await client.kv.getString('/brokers/ui-1')), '{"host":"10.0.0.9"}');
    await b.screenshot('keys');
  });

  it('refuses an edit when the key changed between load and save (the SDK wrote in between)', async () => {
    await b.page.waitForSelector('#key-meta');
    const loadedRevision = Number(await text('#key-meta dd[data-field="modRevision"]'));
    await clickButton('Edit');
    await b.page.waitForSelector('#edit-value');
    await b.page.$eval('#edit-value', (el) => ((el as HTMLTextAreaElement).value = ''));
    await b.page.type('#edit-value', 'edited in the browser');
    const sdk = await client.kv.set('/brokers/ui-1', 'changed by the SDK');
    assert.ok(sdk.revision > loadedRevision);
    await b.page.click('form.editor button[type="submit"]');
    await b.page.waitForSelector('#save-error');
    assert.match(await text('#save-error'), /changed since you opened it.*is at mod revision \d+, not \d+/s);
    assert.equal(await client.kv.getString('/brokers/ui-1'), 'changed by the SDK', 'the refused edit wrote nothing');
    await b.screenshot('keys-conflict');

    // Discard: the current value is shown; an edit based on it is saved.
    await clickButton('Discard my edit and show the current value');
    await b.page.waitForFunction(() => document.querySelector('#value')?.textContent === 'changed by the SDK');
    await clickButton('Edit');
    await b.page.waitForSelector('#edit-value');
    await b.page.type('#edit-value', ', then by the browser');
    await b.page.click('form.editor button[type="submit"]');
    await b.page.waitForFunction(() => document.querySelector('#value')?.textContent === 'changed by the SDK, then by the browser');
    assert.equal(await client.kv.getString('/brokers/ui-1'), 'changed by the SDK, then by the browser');
  });

  it('deletes only after confirmation', async () => {
    await clickButton('Delete…');
    await b.page.waitForSelector('dialog[open]');
    await b.screenshot('keys-delete');
    await b.page.click('dialog[open] button:not(.danger)');
    await b.page.waitForSelector('dialog:not([open])');
    assert.ok(await client.kv.get('/brokers/ui-1'), 'Cancel deletes nothing');
    await clickButton('Delete…');
    await b.page.waitForSelector('dialog[open] button.danger');
    await b.page.click('dialog[open] button.danger');
    await b.page.waitForFunction(() => !document.querySelector('#key-entries a[data-key="/brokers/ui-1"]') && !document.querySelector('#key-title'));
    assert.equal(await client.kv.get('/brokers/ui-1'), undefined);
  });

  it('lists leases and users', async () => {
    const res = await fetch(`${origin}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'broker-1', password: 'a long password', permissions: [{ prefix: '/brokers/1/', read: true, write: true }] }),
    });
    assert.equal(res.status, 201);
    await b.page.goto(`${origin}/ui/#/users`);
    await b.page.waitForSelector('#users tr[data-user="broker-1"]');
    assert.match(await text('#users tr[data-user="broker-1"]'), /\/brokers\/1\/ read, write/);
    await b.screenshot('users');
    await b.page.click('a[data-page="leases"]');
    await b.page.waitForFunction(() => /\d/.test(document.querySelector('#sessions-open')?.textContent ?? ''));
    await b.page.waitForSelector('#leases caption');
    await b.screenshot('leases');
  });

  it('shows the brokers and the placement map, finds a shard, and shows its new leader after its broker leaves', async () => {
    // No cluster named in the route: the page finds the only one registered under /placement/.
    await b.page.goto(`${origin}/ui/#/brokers`);
    await b.page.waitForFunction(() => document.querySelectorAll('#brokers tbody tr[data-node-id]').length === 4 && document.querySelectorAll('#shards tbody tr[data-shard]').length === 2, { timeout: 10_000 });
    assert.match(b.page.url(), /#\/brokers\?cluster=mq$/);
    assert.equal(await b.page.$eval('#broker-cluster', (el) => (el as HTMLInputElement).value), BROKERS);
    const shards = new Map((await client.placement.listShards(BROKERS)).shards.map((s) => [s.shardName, s]));
    const orders = shards.get('orders-0')!;
    for (const id of [1, 2, 3, 4]) {
      const row = `#brokers tr[data-node-id="${id}"]`;
      assert.equal(await text(`${row} td[data-col="zone"]`), id === 4 ? 'eu-1a' : `eu-1${'abc'[id - 1]}`);
      assert.equal(await text(`${row} td[data-col="addresses"]`), `10.0.1.${id}:9092`);
      assert.equal(await text(`${row} td[data-col="type"]`), 'broker');
      const held = [...shards.values()].filter((s) => s.replicas.includes(id)).length;
      assert.match(await text(`${row} td[data-col="shards"]`), new RegExp(`^${held}\\b`));
      assert.match(await text(`${row} td[data-col="state"]`), /alive[\s\S]*lease \d+, \d+ s left/);
    }
    const row = '#shards tr[data-shard="orders-0"]';
    assert.equal(await b.page.$eval(`${row} td[data-col="leader"]`, (el) => Number((el as HTMLElement).dataset.leaderId)), orders.leader);
    assert.equal(await text(`${row} td[data-col="epoch"]`), String(orders.epoch));
    assert.equal(await text(`${row} td[data-col="status"]`), orders.status);
    for (const r of orders.replicas) assert.match(await text(`${row} td[data-col="replicas"]`), new RegExp(`broker ${r}\\b`));

    // "Who holds shard X": the filter keeps the matching rows and answers in one line.
    await b.page.type('#shard-filter', 'orders');
    await b.page.waitForFunction(() => document.querySelectorAll('#shards tbody tr[data-shard]').length === 1);
    assert.equal(
      await text('#shard-answer'),
      `Shard orders-0: led by broker ${orders.leader} at epoch ${orders.epoch}; replicas on ${orders.replicas.map((r) => `broker ${r}`).join(', ')}; status ${orders.status}.`,
    );
    assert.match(b.page.url(), /shard=orders/, 'the filter is in the route, so the answer can be linked');
    await b.screenshot('brokers');

    // The leader's broker leaves: the Placement Center leader reassigns, the page follows by itself.
    const t0 = Date.now();
    assert.equal(await client.registry.unregister(BROKERS, orders.leader), true);
    const handle = await b.page.waitForFunction(
      (old) => {
        const id = Number((document.querySelector('#shards tr[data-shard="orders-0"] td[data-col="leader"]') as HTMLElement | null)?.dataset.leaderId ?? 0);
        return id !== 0 && id !== old ? id : null;
      },
      { timeout: 15_000, polling: 100 },
      orders.leader,
    );
    const shown = (await handle.jsonValue()) as number;
    console.log(`# the page showed shard orders-0's new leader (broker ${shown}) ${((Date.now() - t0) / 1000).toFixed(1)} s after broker ${orders.leader} unregistered`);
    const now = await client.placement.getShard(BROKERS, 'orders-0');
    assert.equal(shown, now.leader);
    assert.equal(now.epoch, orders.epoch + 1);
    await b.page.waitForFunction((e) => document.querySelector('#shards tr[data-shard="orders-0"] td[data-col="epoch"]')?.textContent === String(e), {}, now.epoch);
    await b.page.waitForFunction(() => document.querySelectorAll('#brokers tbody tr[data-node-id]').length === 3);
    assert.equal(await b.page.$(`#brokers tr[data-node-id="${orders.leader}"]`), null, 'the broker that left is no longer listed');
    assert.match(await text('#shard-answer'), new RegExp(`led by broker ${now.leader} at epoch ${now.epoch}; replicas on ${now.replicas.map((r) => `broker ${r}`).join(', ')};`));
    assert.ok(!now.replicas.includes(orders.leader));
    await b.screenshot('brokers-reassigned');
  });

  it('works from the keyboard: skip link, navigation, the tree, a dialog that Escape closes', async () => {
    // A fresh load, so focus starts at the top of the document.
    await b.page.goto(`${origin}/ui/#/cluster`);
    await b.page.reload();
    await b.page.waitForSelector('#members tbody tr');
    const focused = () => b.page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? `${el.tagName.toLowerCase()}#${el.id} ${el.getAttribute('data-page') ?? el.getAttribute('data-prefix') ?? el.getAttribute('data-key') ?? el.textContent?.trim() ?? ''}` : '';
    });
    /** Presses Tab until `pred` holds for the focused element (at most 40 times). */
    const tabTo = async (pred: (f: string) => boolean): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        await b.page.keyboard.press('Tab');
        if (pred(await focused())) return;
      }
      assert.fail(`Tab never reached the element; last focused: ${await focused()}`);
    };
    await b.page.keyboard.press('Tab');
    assert.equal(await focused(), 'a# Skip to content');
    await b.page.keyboard.press('Enter');
    assert.match(await focused(), /^main#main/);
    assert.match(b.page.url(), /#\/cluster$/, 'the skip link leaves the route alone');
    await b.page.focus('a[data-page="cluster"]');
    await tabTo((f) => f === 'a# keys');
    await b.page.keyboard.press('Enter');
    await b.page.waitForSelector('#key-entries a[data-prefix="/"]');
    await tabTo((f) => f === 'a# /');
    await b.page.keyboard.press('Enter');
    await b.page.waitForSelector('#key-entries a[data-prefix="/brokers/"]');
    await tabTo((f) => f === 'a# /brokers/');
    await b.page.keyboard.press('Enter');
    await b.page.waitForSelector('#key-entries a[data-key="/brokers/1"]');
    await tabTo((f) => f === 'a# /brokers/1');
    await b.page.keyboard.press('Enter');
    await b.page.waitForSelector('#value');
    await tabTo((f) => f === 'button# Delete…');
    await b.page.keyboard.press('Enter');
    await b.page.waitForSelector('dialog[open]');
    assert.equal(await focused(), 'button# Cancel', 'the dialog opens on its safe choice');
    await b.page.keyboard.press('Escape');
    await b.page.waitForSelector('dialog:not([open])');
    assert.ok(await client.kv.get('/brokers/1'), 'Escape deletes nothing');
  });

  it('passes axe-core\'s WCAG 2 A and AA rules (labels, contrast, landmarks…) on every page, in both themes', async () => {
    await b.page.goto(`${origin}/ui/#/cluster`);
    await b.page.evaluate(AXE_SOURCE);
    const pages: Array<[string, string]> = [
      ['#/cluster', '#members tbody tr'],
      ['#/keys?prefix=/brokers/&key=/brokers/1', '#value'],
      ['#/leases', '#leases caption'],
      ['#/brokers?cluster=mq', '#shards tr[data-shard]'],
      ['#/users', '#users tr[data-user]'],
    ];
    const found: string[] = [];
    for (const theme of ['light', 'dark']) {
      if ((await b.page.$eval('html', (el) => el.dataset.theme)) !== theme) await b.page.click('#theme-toggle');
      for (const [hash, ready] of pages) {
        await b.page.evaluate((h) => (location.hash = h), hash);
        await b.page.waitForSelector(ready);
        const violations = await b.page.evaluate(async () => {
          const r = await (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: Array<{ id: string; nodes: Array<{ target: string[] }> }> }> } }).axe.run(document, {
            runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
          });
          return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
        });
        found.push(...violations.map((v) => `${theme} ${hash} ${v}`));
      }
    }
    if ((await b.page.$eval('html', (el) => el.dataset.theme)) !== 'light') await b.page.click('#theme-toggle');
    assert.deepEqual(found, []);
  });

  it('shows the new leader within seconds after the leader is SIGKILLed', async () => {
    await b.page.click('a[data-page="cluster"]');
    await b.page.waitForSelector(`#leader[data-leader-id="${leader}"]`);
    const t0 = Date.now();
    await c.kill(leader);
    const handle = await b.page.waitForFunction(
      (old) => {
        const id = Number((document.querySelector('#leader') as HTMLElement | null)?.dataset.leaderId ?? 0);
        return id !== 0 && id !== old ? id : null;
      },
      { timeout: 15_000, polling: 100 },
      leader,
    );
    const shown = (await handle.jsonValue()) as number;
    const seconds = (Date.now() - t0) / 1000;
    const survivors = c.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    assert.equal(shown, await c.waitForLeader({ among: survivors }));
    console.log(`# the page showed the new leader (node ${shown}) ${seconds.toFixed(1)} s after node ${leader} was killed`);
    await b.page.waitForFunction((old) => /unreachable/.test(document.querySelector(`#members tr[data-member-id="${old}"] td[data-col="health"]`)?.textContent ?? ''), {}, leader);
    const changes = await b.page.$$eval('#leader-changes li', (lis) => lis.map((li) => li.textContent ?? ''));
    assert.match(changes[0]!, new RegExp(`node ${shown} \\(term \\d+\\)`));
    assert.ok(changes.some((x) => x.includes(`node ${leader}`)), JSON.stringify(changes));
    await b.screenshot('cluster-failover');
  });

  it('made only requests that /v1/openapi.json documents, all to the node it was loaded from', async () => {
    const doc = (await (await fetch(`${origin}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    assert.ok(b.requests.length > 20, `${b.requests.length} requests recorded`);
    assert.deepEqual(undocumented(b.requests, origin, doc.paths), []);
    const seen = new Set(b.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`));
    for (const op of ['GET /v1/cluster/overview', 'GET /metrics', 'GET /v1/kv', 'PUT /v1/kv', 'DELETE /v1/kv', 'GET /v1/users', 'GET /v1/leases', 'GET /v1/cluster/nodes', 'GET /v1/shards']) {
      assert.ok(seen.has(op), `the page used ${op}`);
    }
    assert.deepEqual(b.pageErrors, []);
  });

  async function clickButton(label: string): Promise<void> {
    const clicked = await b.page.evaluate((l) => {
      const btn = [...document.querySelectorAll('button')].find((x) => x.textContent?.trim() === l && !x.disabled);
      btn?.click();
      return !!btn;
    }, label);
    assert.ok(clicked, `a "${label}" button`);
  }
});
