// `--secure`: a chaos run with TLS on every port and auth on, so their cost and correctness under
// faults are covered. The run makes a CA and one certificate per member (deploy/make-certs.sh,
// through test/support/certs.ts); every member serves TLS on its client gRPC port and its admin
// HTTPS port, and talks to its peers on a port of their own with mutual TLS
// (--peer-client-cert-auth: the certificate names the member) — through the fault proxies, which
// only see ciphertext. Auth is enabled before the workload starts: root, and a user `chaos` whose
// one role may read and write exactly the prefixes the workloads use. Every client of the run
// (workload, watchers, lockers, brokers, the harness's status and hash polling, the final reads)
// speaks TLS as that user; /v1/debug/hash needs root, so the hash polling runs as root. A
// restarted member gets the same flags, so it comes back with the same certificates.
// After the run, enforcement() checks auth and TLS were really on.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AuthClient, KVClient, PutRequest, RangeRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { KvServiceClient } from '../../proto/gen/placement/v1/kv.js';
import { PlacementClient, type PlacementClientOptions } from '../../src/client/index.js';
import { makeClusterCerts, type CertDir } from '../support/certs.js';
import { PeerProbe } from '../support/peer.js';
import type { ChaosCluster, ClusterSecurity } from './cluster.js';
import type { HistoryOp } from './checker/history.js';

export const CHAOS_USER = 'chaos';
const CHAOS_ROLE = 'chaos-rw';
/** A key no role of the chaos user covers: a put there must be refused. */
const OUTSIDE_KEY = 'outside-chaos/probe';
/**
 * Token lifetime: short enough that every client renews its token a few times during a run
 * (re-authentication under faults is part of what is checked), long enough that a renewal is rare.
 */
export const TOKEN_TTL_MS = 20_000;

export interface SecurityCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SecurityCheckResult {
  ok: boolean;
  message: string;
  checks: SecurityCheck[];
}

/** A user's token for the raw gRPC and HTTP clients, renewed in the background before it ends. */
class TokenSource {
  private token = '';
  private at = 0;
  private renewing: Promise<void> | null = null;

  constructor(
    private readonly name: string,
    private readonly password: string,
    private readonly endpoints: () => string[],
    private readonly credentials: grpc.ChannelCredentials,
  ) {}

  /** Authenticates against the first member that answers. */
  async renew(): Promise<void> {
    let last: unknown = null;
    for (const address of this.endpoints()) {
      const c = new AuthClient(address, this.credentials);
      try {
        const rep = await new Promise<{ token: string }>((res, rej) =>
          c.authenticate({ name: this.name, password: this.password }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (e, r) => (e ? rej(e) : res(r))),
        );
        this.token = rep.token;
        this.at = Date.now();
        return;
      } catch (err) {
        last = err;
      } finally {
        c.close();
      }
    }
    throw new Error(`authenticating ${this.name} failed on every member: ${(last as Error)?.message}`);
  }

  /** The token to send now; past half its lifetime a renewal starts (the old one serves meanwhile). */
  current(): string {
    if (Date.now() - this.at > TOKEN_TTL_MS / 2 && !this.renewing) {
      this.renewing = this.renew()
        .catch(() => {})
        .finally(() => (this.renewing = null));
    }
    return this.token;
  }
}

export class ChaosSecurity implements ClusterSecurity {
  readonly certs: CertDir;
  private readonly rootPassword = randomBytes(12).toString('hex');
  private readonly chaosPassword = randomBytes(12).toString('hex');
  private readonly tls: grpc.ChannelCredentials;
  private endpoints: string[] = [];
  private root: TokenSource | null = null;
  private chaos: TokenSource | null = null;

  constructor(dir: string, nodes: number) {
    this.certs = makeClusterCerts(join(dir, 'certs'), nodes);
    this.tls = grpc.credentials.createSsl(this.certs.ca);
  }

  /** TLS on the client and admin ports (server certificate only: clients authenticate as users), mutual TLS between peers. */
  nodeArgs(id: number): string[] {
    const m = this.certs.member(id);
    // A member added during the run (a membership change) gets its certificate from the same CA.
    if (!existsSync(m.cert)) this.certs.make(`member:${id}:127.0.0.1,localhost`);
    return [
      '--cert-file', m.cert, '--key-file', m.key,
      '--peer-cert-file', m.cert, '--peer-key-file', m.key, '--peer-trusted-ca-file', this.certs.caFile, '--peer-client-cert-auth',
      '--auth-token-ttl-ms', String(TOKEN_TTL_MS),
    ];
  }

  /** GET over HTTPS (the run's CA) with a Bearer token once auth is on: root for the state hash, the chaos user otherwise. */
  getJson(url: string, timeoutMs: number): Promise<unknown> {
    const source = url.includes('/v1/debug/') ? this.root : this.chaos;
    const token = source?.current() ?? '';
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url.replace(/^http:/, 'https:'), { ca: this.certs.ca, timeout: timeoutMs, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Channel credentials of the raw gRPC clients: TLS, and the chaos user's token on every call and stream. */
  credentials(): grpc.ChannelCredentials {
    const token = grpc.credentials.createFromMetadataGenerator((_params, cb) => {
      const md = new grpc.Metadata();
      const t = this.chaos?.current();
      if (t) md.set('token', t);
      cb(null, md);
    });
    return grpc.credentials.combineChannelCredentials(this.tls, token);
  }

  /** What every SDK client of the run adds to its options. */
  sdk(): Pick<PlacementClientOptions, 'tls' | 'auth'> {
    return { tls: { ca: this.certs.ca }, auth: { username: CHAOS_USER, password: this.chaosPassword } };
  }

  /**
   * Turns auth on: root (etcd requires it first), then the chaos user with one role granted
   * readwrite on exactly `prefixes`; waits until every member applied it, and fetches the tokens
   * the raw clients use.
   */
  async enable(cluster: ChaosCluster, prefixes: string[]): Promise<void> {
    this.endpoints = cluster.nodes.map((n) => n.grpcAddress);
    const admin = new PlacementClient({ endpoints: this.endpoints, discoverMembers: false, deadlineMs: 30_000, tls: { ca: this.certs.ca } });
    try {
      const a = admin.authAdmin;
      await a.userAdd('root', this.rootPassword);
      await a.userGrantRole('root', 'root');
      await a.userAdd(CHAOS_USER, this.chaosPassword);
      await a.roleAdd(CHAOS_ROLE);
      for (const p of prefixes) await a.roleGrantPermission(CHAOS_ROLE, { type: 'readwrite', key: p, prefix: true });
      await a.userGrantRole(CHAOS_USER, CHAOS_ROLE);
      await a.enable();
    } finally {
      admin.close();
    }
    const live = (): string[] => cluster.nodes.filter((n) => cluster.isServing(n.id)).map((n) => n.grpcAddress);
    this.root = new TokenSource('root', this.rootPassword, live, this.tls);
    this.chaos = new TokenSource(CHAOS_USER, this.chaosPassword, live, this.tls);
    await this.root.renew();
    await this.chaos.renew();
  }

  /**
   * After the run: auth and TLS were really on. An anonymous put and the chaos user's put outside
   * its prefixes are refused (native and etcd API) and change nothing; plaintext to the client
   * gRPC port, the peer port and the admin port fails; the peer port refuses a TLS client without
   * a member certificate; the admin API refuses an anonymous request.
   */
  async enforcement(cluster: ChaosCluster, history: readonly HistoryOp[]): Promise<SecurityCheckResult> {
    const checks: SecurityCheck[] = [];
    const add = (name: string, ok: boolean, detail: string): void => {
      checks.push({ name, ok, detail });
    };
    // The workload's credentials held through every fault and token renewal: an operation the
    // checker counted as indeterminate because auth refused it would hide a broken credential path.
    const refused = history.filter((h) => h.error !== undefined && /^(UNAUTHENTICATED|PERMISSION_DENIED)\b/.test(h.error));
    add('no workload operation refused by auth', refused.length === 0, refused.length === 0 ? `${history.length} ops` : `${refused.length} refused, first: ${refused[0]!.error}`);
    const node = cluster.nodes.find((n) => cluster.isServing(n.id)) ?? cluster.nodes[0]!;
    const deadline = (): Partial<grpc.CallOptions> => ({ deadline: Date.now() + 5000 });
    const value = Buffer.from('must not be written');
    const outcome = <T>(f: (cb: (e: grpc.ServiceError | null, r: T) => void) => void): Promise<grpc.ServiceError | null> =>
      new Promise((res) => f((e) => res(e)));
    const describe = (e: grpc.ServiceError | null): string => (e ? `${grpc.status[e.code]}: ${e.details}` : 'OK');

    // Anonymous (TLS, no token) and the chaos user outside its prefixes, on both APIs.
    const anonKv = new KvServiceClient(node.grpcAddress, this.tls);
    const anonEtcd = new KVClient(node.grpcAddress, this.tls);
    const userKv = new KvServiceClient(node.grpcAddress, this.credentials());
    const userEtcd = new KVClient(node.grpcAddress, this.credentials());
    try {
      const set = (c: KvServiceClient, key: string) =>
        outcome((cb) => c.set({ key, value, clientId: `secure-probe-${randomBytes(4).toString('hex')}`, seq: 1, lease: 0, prevKv: false }, new grpc.Metadata(), deadline(), cb));
      const put = (c: KVClient, key: string) => outcome((cb) => c.put(PutRequest.fromPartial({ key: Buffer.from(key), value }), new grpc.Metadata(), deadline(), cb));
      let e = await set(anonKv, 'chaos/k0');
      add('anonymous Set refused', e?.code === grpc.status.UNAUTHENTICATED && /user name is empty/.test(e.details), describe(e));
      e = await put(anonEtcd, 'chaos/k0');
      // etcd answers an anonymous request on its KV service with INVALID_ARGUMENT, as we do.
      add('anonymous etcd Put refused', e !== null && /user name is empty/.test(e.details), describe(e));
      e = await set(userKv, OUTSIDE_KEY);
      add(`chaos user's Set outside its prefixes refused`, e?.code === grpc.status.PERMISSION_DENIED && /permission denied/.test(e.details), describe(e));
      e = await put(userEtcd, OUTSIDE_KEY);
      add(`chaos user's etcd Put outside its prefixes refused`, e?.code === grpc.status.PERMISSION_DENIED && /permission denied/.test(e.details), describe(e));
    } finally {
      for (const c of [anonKv, anonEtcd, userKv, userEtcd]) c.close();
    }
    // Nothing of it was written (read as root; a linearizable read through any member).
    const rootEtcd = new KVClient(
      node.grpcAddress,
      grpc.credentials.combineChannelCredentials(
        this.tls,
        grpc.credentials.createFromMetadataGenerator((_p, cb) => {
          const md = new grpc.Metadata();
          md.set('token', this.root?.current() ?? '');
          cb(null, md);
        }),
      ),
    );
    try {
      const r = await new Promise<{ err: grpc.ServiceError | null; count: number }>((res) =>
        rootEtcd.range(RangeRequest.fromPartial({ key: Buffer.from(OUTSIDE_KEY) }), new grpc.Metadata(), deadline(), (err, rep) => res({ err, count: rep ? rep.kvs.length : -1 })),
      );
      add('the refused put changed nothing', r.err === null && r.count === 0, r.err ? describe(r.err) : `${r.count} keys at ${OUTSIDE_KEY}`);
    } finally {
      rootEtcd.close();
    }

    // Plaintext to the TLS ports.
    const plainKv = new KvServiceClient(node.grpcAddress, grpc.credentials.createInsecure());
    try {
      const e = await outcome((cb) => plainKv.get({ key: 'chaos/k0', serializable: true, kvMetadataOnly: false }, new grpc.Metadata(), deadline(), cb));
      add('plaintext gRPC to the client port fails', e?.code === grpc.status.UNAVAILABLE, describe(e));
    } finally {
      plainKv.close();
    }
    const peerAddress = node.peerAddress!;
    for (const [name, creds] of [
      ['plaintext to the peer port fails', grpc.credentials.createInsecure()],
      ['TLS without a member certificate to the peer port fails', this.tls],
    ] as const) {
      const probe = new PeerProbe({ address: peerAddress, clusterId: cluster.clusterId, from: 1, to: node.id, credentials: creds });
      try {
        const e = await Promise.race([
          probe.hello(randomBytes(16)).then(
            () => null,
            (err: grpc.ServiceError) => err,
          ),
          new Promise<grpc.ServiceError>((res) => setTimeout(() => res({ code: grpc.status.DEADLINE_EXCEEDED, details: 'no answer in 5 s' } as grpc.ServiceError), 5000)),
        ]);
        add(name, e?.code === grpc.status.UNAVAILABLE, describe(e));
      } finally {
        probe.close();
      }
    }
    const plainHttp = await fetch(`http://${node.httpAddress}/v1/cluster/status`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => `HTTP ${r.status}`,
      (err: Error) => `refused: ${(err.cause as Error | undefined)?.message ?? err.message}`,
    );
    add('plain HTTP to the admin port fails', plainHttp.startsWith('refused'), plainHttp);
    // The admin API over HTTPS, anonymously: 401.
    const anonHttp = await new Promise<string>((resolve) => {
      const req = httpsRequest(`https://${node.httpAddress}/v1/debug/hash`, { ca: this.certs.ca, timeout: 5000 }, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode}`);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => resolve(`error: ${err.message}`));
      req.end();
    });
    add('anonymous admin HTTPS request refused', anonHttp === 'HTTP 401', anonHttp);

    const bad = checks.filter((c) => !c.ok);
    return {
      ok: bad.length === 0,
      message:
        bad.length === 0
          ? `auth and TLS enforced on member ${node.id}: ${checks.length} checks (anonymous and out-of-prefix puts refused and not applied, plaintext refused on the client, peer and admin ports, peer port needs a member certificate)`
          : bad.map((c) => `${c.name}: got ${c.detail}`).join('; '),
      checks,
    };
  }
}
