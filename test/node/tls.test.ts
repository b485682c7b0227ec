// TLS end to end, with certificates made at run time by deploy/make-certs.sh:
//  1. client TLS with --client-cert-auth on the shared port (peers dial it as TLS clients): the
//     cluster forms, the SDK, placement-ctl and the admin HTTPS API work with a certificate from
//     the CA and fail without one (and nothing is written); a rotated certificate and a new CA
//     bundle are picked up from disk without a restart.
//  2. peers on their own port with --peer-client-cert-auth and no secret: the cluster forms over
//     certificates alone; a process without a certificate, with one from another CA, or with a
//     member certificate claiming another member's id is refused; the client port does not serve
//     PeerService.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { PlacementClient } from '../../src/client/index.js';
import { MessageType } from '../../raft/types.js';
import { freePorts, httpsGetJson, poll, startCluster, type Cluster } from '../support/cluster.js';
import { CertDir, makeClusterCerts } from '../support/certs.js';
import { PeerProbe, wireMessage } from '../support/peer.js';
import { runCtl } from '../cli/support/run-ctl.js';

/** SHA-256 fingerprint of the certificate a TLS server presents on `port`. */
function presentedFingerprint(port: number, client?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false, ...client }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

function fingerprintOf(pemFile: string): string {
  return new X509Certificate(readFileSync(pemFile)).fingerprint256;
}

describe('TLS on the client port, shared with peers, with client certificates', { timeout: 240_000 }, () => {
  let root: string;
  let certs: CertDir;
  let other: CertDir;
  let caBundle: string;
  let c: Cluster;
  let alice: { cert: Buffer; key: Buffer };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pc-tls-'));
    certs = makeClusterCerts(join(root, 'ca-a'), 3, ['alice']);
    other = makeClusterCerts(join(root, 'ca-b'), 1, ['mallory']);
    // The nodes trust a bundle file the test rewrites later (CA reload).
    caBundle = join(root, 'trusted.pem');
    copyFileSync(certs.caFile, caBundle);
    alice = certs.read(certs.client('alice'));
    c = await startCluster({
      nodes: 3,
      https: { ca: certs.ca, ...alice },
      extraArgs: (id) => ['--cert-file', certs.member(id).cert, '--key-file', certs.member(id).key, '--trusted-ca-file', caBundle, '--client-cert-auth', '--tls-reload-ms', '100'],
    });
  });
  after(async () => {
    await c?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('forms over TLS and serves the SDK with a client certificate; without one, or in plaintext, nothing gets in', async () => {
    const endpoints = c.nodes.map((n) => n.grpcAddress);
    const good = new PlacementClient({ endpoints, tls: { ca: certs.ca, ...alice }, deadlineMs: 10_000 });
    try {
      await good.kv.set('/tls/a', 'one');
      assert.equal((await good.kv.get('/tls/a'))?.value.toString(), 'one');
      const st = await good.cluster.status();
      assert.equal(st.members.length, 3);
    } finally {
      good.close();
    }
    const tries: Array<[string, PlacementClient]> = [
      ['no client certificate', new PlacementClient({ endpoints, tls: { ca: certs.ca }, deadlineMs: 1500, discoverMembers: false })],
      ['a certificate from another CA', new PlacementClient({ endpoints, tls: { ca: certs.ca, ...other.read(other.client('mallory')) }, deadlineMs: 1500, discoverMembers: false })],
      ['plaintext', new PlacementClient({ endpoints, deadlineMs: 1500, discoverMembers: false })],
      ['a server CA it does not know', new PlacementClient({ endpoints, tls: { ca: other.ca, ...alice }, deadlineMs: 1500, discoverMembers: false })],
    ];
    for (const [what, client] of tries) {
      try {
        await assert.rejects(client.kv.set('/tls/denied', what), `${what}: the write is refused`);
      } finally {
        client.close();
      }
    }
    const check = new PlacementClient({ endpoints, tls: { ca: certs.ca, ...alice } });
    try {
      assert.equal(await check.kv.get('/tls/denied'), undefined, 'nothing was written');
    } finally {
      check.close();
    }
  });

  it('serves placement-ctl with --cacert/--cert/--key', async () => {
    const ep = c.nodes[1]!.grpcAddress;
    const a = certs.client('alice');
    const put = await runCtl(['--endpoints', ep, '--cacert', certs.caFile, '--cert', a.cert, '--key', a.key, 'kv', 'put', '/tls/ctl', 'via-ctl']);
    assert.equal(put.code, 0, put.stderr);
    const get = await runCtl(['--endpoints', ep, '--cacert', certs.caFile, '--cert', a.cert, '--key', a.key, 'kv', 'get', '/tls/ctl']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /via-ctl/);
    const noCert = await runCtl(['--endpoints', ep, '--cacert', certs.caFile, '--timeout', '2s', 'kv', 'get', '/tls/ctl']);
    assert.notEqual(noCert.code, 0);
    const half = await runCtl(['--endpoints', ep, '--cert', a.cert, 'kv', 'get', '/tls/ctl']);
    assert.equal(half.code, 2, 'usage error');
    assert.match(half.stderr, /--cert and --key go together/);
  });

  it('serves the admin API over HTTPS, to clients with a certificate only', async () => {
    const n = c.nodes[0]!;
    const ok = await httpsGetJson(`https://${n.httpAddress}/v1/cluster/status`, { ca: certs.ca, ...alice });
    assert.equal(ok.status, 200);
    await assert.rejects(httpsGetJson(`https://${n.httpAddress}/v1/cluster/status`, { ca: certs.ca }));
    // The dashboard's overview: the node asks every member's admin HTTPS with its own certificate.
    const overview = (await httpsGetJson(`https://${n.httpAddress}/v1/cluster/overview`, { ca: certs.ca, ...alice }, 10_000)).body as {
      data: { members: Array<{ id: number; reachable: boolean; error: string | null; status: { version: string } | null }> };
    };
    assert.deepEqual(overview.data.members.map((m) => [m.id, m.reachable, m.error]), [[1, true, null], [2, true, null], [3, true, null]]);
    await assert.rejects(fetch(`http://${n.httpAddress}/v1/cluster/status`, { signal: AbortSignal.timeout(2000) }));
  });

  it('reloads a rotated certificate and a new CA bundle from disk, without a restart', async () => {
    const n = c.nodes[0]!;
    const before = await presentedFingerprint(n.grpcPort, alice);
    assert.equal(before, fingerprintOf(certs.member(1).cert));
    certs.make('member:1:127.0.0.1,localhost'); // same CA, new key and certificate
    const rotated = fingerprintOf(certs.member(1).cert);
    assert.notEqual(rotated, before);
    await poll(async () => (await presentedFingerprint(n.grpcPort, alice)) === rotated, { what: 'the gRPC port to present the rotated certificate', timeoutMs: 10_000 });
    await poll(async () => (await presentedFingerprint(n.httpPort, alice)) === rotated, { what: 'the HTTPS port to present the rotated certificate', timeoutMs: 10_000 });
    assert.match(c.logs(1), /TLS certificate reloaded/);

    // A client whose certificate comes from CA B is refused until B joins the trusted bundle.
    const mallory = other.read(other.client('mallory'));
    const viaB = (): PlacementClient => new PlacementClient({ endpoints: [n.grpcAddress], tls: { ca: certs.ca, ...mallory }, deadlineMs: 1500, discoverMembers: false });
    let m = viaB();
    await assert.rejects(m.kv.get('/tls/a'));
    m.close();
    writeFileSync(caBundle, Buffer.concat([certs.ca, other.ca]));
    await poll(
      async () => {
        const t = viaB();
        try {
          return (await t.kv.get('/tls/a'))?.value.toString() === 'one';
        } finally {
          t.close();
        }
      },
      { what: 'a CA-B client to be accepted after the bundle changed', timeoutMs: 15_000, intervalMs: 200 },
    );
    // New connections between members use the rotated certificate: the cluster still replicates.
    m = new PlacementClient({ endpoints: c.nodes.map((x) => x.grpcAddress), tls: { ca: certs.ca, ...alice } });
    try {
      await m.kv.set('/tls/after-reload', 'ok');
      for (const x of c.nodes) {
        const one = new PlacementClient({ endpoints: [x.grpcAddress], tls: { ca: certs.ca, ...alice }, discoverMembers: false });
        try {
          assert.equal((await one.kv.get('/tls/after-reload'))?.value.toString(), 'ok');
        } finally {
          one.close();
        }
      }
    } finally {
      m.close();
    }
  });
});

describe('peers on their own port, authenticated by certificates alone', { timeout: 240_000 }, () => {
  let root: string;
  let certs: CertDir;
  let other: CertDir;
  let c: Cluster;
  let peerPorts: number[];

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pc-peer-tls-'));
    certs = makeClusterCerts(join(root, 'ca-a'), 3);
    other = makeClusterCerts(join(root, 'ca-b'), 3);
    peerPorts = await freePorts(3);
    const peerAddresses = peerPorts.map((p, i) => `${i + 1}=127.0.0.1:${p}`).join(',');
    c = await startCluster({
      nodes: 3,
      // No secret at all: certificates are the only peer authentication.
      nodeEnv: () => ({ PLACEMENT_PEER_SECRET_FILE: '' }),
      extraArgs: (id) => [
        '--peer-listen', `127.0.0.1:${peerPorts[id - 1]}`,
        '--peer-addresses', peerAddresses,
        '--peer-cert-file', certs.member(id).cert,
        '--peer-key-file', certs.member(id).key,
        '--peer-trusted-ca-file', certs.caFile,
        '--peer-client-cert-auth',
      ],
    });
  });
  after(async () => {
    await c?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const vote = (from: number, to: number) => wireMessage({ type: MessageType.Vote, from, to, term: 1_000_000, logTerm: 1_000_000, index: 1_000_000 });

  it('forms and replicates over the peer port', async () => {
    const sdk = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress) });
    try {
      await sdk.kv.set('/peer-tls/a', 'x');
      for (const n of c.nodes) {
        const one = new PlacementClient({ endpoints: [n.grpcAddress], discoverMembers: false });
        try {
          assert.equal((await one.kv.get('/peer-tls/a'))?.value.toString(), 'x');
        } finally {
          one.close();
        }
      }
    } finally {
      sdk.close();
    }
    assert.match(c.logs(1), /"peerAuth":"certificate"/);
  });

  it('refuses a process without a certificate, with one from another CA, or naming another member', async () => {
    const target = c.node(1);
    const addr = `127.0.0.1:${peerPorts[0]}`;
    const termBefore = (await c.status(1)).term;
    const probe = (credentials: grpc.ChannelCredentials, from: number): PeerProbe => new PeerProbe({ address: addr, clusterId: c.clusterId, from, to: 1, credentials });
    // TLS without a client certificate: the handshake is refused.
    const noCert = probe(grpc.credentials.createSsl(certs.ca), 2);
    const e1 = await noCert.raft([noCert.batch([vote(2, 1)])]);
    assert.ok(e1 && e1.code !== grpc.status.OK, 'refused');
    assert.equal(e1.code, grpc.status.UNAVAILABLE, `the connection fails: ${e1.details}`);
    noCert.close();
    // Plaintext: no TLS server to talk to.
    const plain = probe(grpc.credentials.createInsecure(), 2);
    const e2 = await plain.raft([plain.batch([vote(2, 1)])]);
    assert.equal(e2?.code, grpc.status.UNAVAILABLE);
    plain.close();
    // A member certificate from another CA.
    const b = other.read(other.member(2));
    const foreign = probe(grpc.credentials.createSsl(certs.ca, b.key, b.cert), 2);
    const e3 = await foreign.raft([foreign.batch([vote(2, 1)])]);
    assert.equal(e3?.code, grpc.status.UNAVAILABLE);
    foreign.close();
    // A genuine certificate of member 2, claiming to be member 3.
    const m2 = certs.read(certs.member(2));
    const liar = probe(grpc.credentials.createSsl(certs.ca, m2.key, m2.cert), 3);
    const e4 = await liar.raft([liar.batch([vote(3, 1)])]);
    assert.equal(e4?.code, grpc.status.PERMISSION_DENIED);
    assert.match(e4!.details, /authenticated as member 2 \(certificate\), claims to be member 3/);
    // ... or sending a message that claims member 3 inside a batch from member 2.
    const liar2 = probe(grpc.credentials.createSsl(certs.ca, m2.key, m2.cert), 2);
    const e5 = await liar2.raft([liar2.batch([vote(3, 1)])]);
    assert.equal(e5?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e5!.details, /claims to be from member 3, the stream is authenticated as member 2/);
    liar.close();
    liar2.close();
    assert.equal((await c.status(1)).term, termBefore, 'no forged vote reached the core');
    // The client port does not serve the peer service at all.
    const onClientPort = new PeerProbe({ address: target.grpcAddress, clusterId: c.clusterId, from: 2, to: 1 });
    const e6 = await onClientPort.raft([onClientPort.batch([vote(2, 1)])]);
    assert.equal(e6?.code, grpc.status.UNIMPLEMENTED);
    onClientPort.close();
  });
});
