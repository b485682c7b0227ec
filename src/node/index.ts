// Runs a node as a process: storage, gRPC server (clients + peers + health, or peers on their own
// port), admin HTTP(S) server, signal handling. `startNode` is the programmatic form (tests,
// bench); `runNode` adds signals. TLS and peer authentication are set up in security.ts.
import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { NodeConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics/metrics.js';
import { createAdminApp, listRoutes } from '../http/app.js';
import { httpsPeerGet } from '../http/overview.js';
import { registerClientServices } from '../grpc/services.js';
import { registerEtcdServices } from '../api/etcd/index.js';
import { registerPlacementServices } from '../api/placement/index.js';
import { AutoCompactor } from '../compaction/auto.js';
import { compactionPolicy } from '../compaction/policy.js';
import { CHANNEL_OPTIONS } from '../transport/index.js';
import { VERSION } from '../version.js';
import { mkdirDurable } from '../../storage/util/fs.js';
import { followCertificates } from '../tls/credentials.js';
import { PlacementNode } from './node.js';
import { Authenticator } from '../auth/authenticator.js';
import { TokenIssuer } from '../auth/tokens.js';
import { clientPortMetricsGuard, DIRECT_STREAMS, guardedGrpcServer, httpAuthMiddleware } from '../auth/guard.js';
import { serveStreamsDirectly } from '../grpc/h2/direct-stream.js';
import { messageLimits } from '../grpc/h2/direct-unary.js';
import { authKvGuard } from '../auth/kv-guard.js';
import { nodeSecurity } from './security.js';
import { EXIT_REFUSED, StartupRefusal } from './refusal.js';
import { confirmListed } from '../membership/join.js';
import { readFileSync } from 'node:fs';
import { GatewayLoopback } from '../api/etcd/gateway/loopback.js';
import { countMessageBytes } from '../metrics/grpc-bytes.js';
import { etcdGateway, gatewayBodyLimit } from '../api/etcd/gateway/gateway.js';
import { etcdHealthy } from '../api/etcd/gateway/health.js';
import { isGatewayPath } from '../api/etcd/gateway/routes.js';
import { serveHttpBesideGrpc } from '../grpc/h2/http-beside.js';
import { runningAllocator } from '../cli/allocator.js';

/** The members' Raft traffic, on the client port unless a peer port is set: not client traffic. */
const PEER_SERVICE_PREFIX = '/placement.v1.PeerService/';

/** How long `--join` waits for the cluster to confirm it lists the new member. */
const JOIN_CONFIRM_MS = 10_000;

export { PlacementNode } from './node.js';
export { StartupRefusal, EXIT_REFUSED } from './refusal.js';

export interface RunningNode {
  node: PlacementNode;
  grpcPort: number;
  /** Port of the separate peer server (--peer-listen); 0 when peers share grpcPort. */
  peerPort: number;
  httpPort: number;
  log: Logger;
  metrics: Metrics;
  /** Every method path registered on the client port (the auth table test checks each has a decision). */
  grpcMethods(): string[];
  /** The admin app's routes, as listRoutes reports them (the same test). */
  httpRoutes(): Array<{ method: string; path: string }>;
  /** Graceful stop (what SIGTERM does). */
  stop(): Promise<void>;
}

function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  let host = addr.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(addr.slice(i + 1)) };
}

export async function startNode(cfg: NodeConfig, opts: { log?: Logger } = {}): Promise<RunningNode> {
  let node: PlacementNode | null = null;
  const log =
    opts.log ??
    createLogger({ nodeId: cfg.id, level: cfg.logLevel, view: () => (node ? node.view() : { term: 0, role: 'starting' }) });
  if (cfg.plantedBug) {
    log.warn(
      { plantedBug: cfg.plantedBug },
      '!!!!!!!! PLANTED BUG ENABLED (PLACEMENT_PLANTED_BUG=' + cfg.plantedBug + '): linearizable reads are answered from local state WITHOUT ReadIndex. TEST USE ONLY. !!!!!!!!',
    );
  }
  // The data dir is private to this user, tightened if it already existed looser (etcd
  // CVE-2020-15113); the WAL, snapshot and state-machine directories inside are made the same way.
  await mkdirDurable(cfg.dataDir);
  const security = await nodeSecurity(cfg, log);
  const metrics = new Metrics({ defaultLabels: {} });
  node = new PlacementNode(cfg, { log, metrics });
  node.transport.useSecurity(security.peer);
  await node.open();
  if (cfg.join && !node.clusterStatus().members.some((m) => m.id === cfg.id)) {
    const joining = node;
    await confirmListed(
      {
        selfId: cfg.id,
        peers: [...cfg.peers.keys()].filter((id) => id !== cfg.id),
        askMembers: (id, deadline) => joining.transport.forward(id, { kind: { $case: 'members', value: true } }, deadline),
        log,
      },
      JOIN_CONFIRM_MS,
    );
  }

  // Requests up to the configured value limit (plus room for the key and framing) must reach the
  // handlers, which answer INVALID_ARGUMENT naming the limit instead of a transport-level error.
  const maxMessage = Math.max(64 * 1024 * 1024, cfg.maxValueBytes * 2 + cfg.maxKeyBytes + 1024 * 1024);
  const serverOptions: grpc.ServerOptions = {
    ...CHANNEL_OPTIONS,
    'grpc.max_receive_message_length': maxMessage,
    'grpc.max_send_message_length': maxMessage,
    'grpc.keepalive_permit_without_calls': 1,
  };
  // Auth (src/auth): every call on the client port is judged (guard.ts); the Auth service
  // manages users and roles and hands out tokens signed with the cluster's token key.
  const authn = new Authenticator({
    auth: () => node!.authState(),
    tokens: new TokenIssuer(security.authTokenKey, cfg.authTokenTtlMs ?? 300_000),
    clientCertAuth: cfg.clientCertAuth,
    catchUp: (deadline) => node!.readBarrier(false, Math.min(deadline, Date.now() + cfg.requestTimeoutMs)),
  });
  const server = guardedGrpcServer(serverOptions, authn, { directUnary: cfg.grpcDirectUnary, directStreams: cfg.grpcDirectStreams ? DIRECT_STREAMS : undefined });
  countMessageBytes(server, metrics, (path) => path.startsWith(PEER_SERVICE_PREFIX));
  const peerServer = security.peerServer ? new grpc.Server(serverOptions) : null;
  if (peerServer && cfg.grpcDirectStreams) serveStreamsDirectly(peerServer, { paths: DIRECT_STREAMS, limits: messageLimits(serverOptions) });
  node.transport.register(peerServer ?? server);
  const clientServices = registerClientServices(server, node, metrics);
  const etcdServices = registerEtcdServices(server, node, { cfg, metrics, log, maxReplyBytes: maxMessage, authn, kvGuard: authKvGuard(authn) });
  const placementServices = registerPlacementServices(server, node, { metrics, log, controller: { movesPerSecond: cfg.placementMovesPerSecond, burst: cfg.placementMovesPerSecond } });
  // etcd's JSON gateway over HTTP on the same port: a loopback into this server, and the hook that
  // tells HTTP from gRPC (both before bindAsync, which creates the port's HTTP/2 server).
  const gatewayLoopback = cfg.enableGrpcGateway ? await GatewayLoopback.open(server, cfg.dataDir) : null;
  const httpBeside = gatewayLoopback
    ? serveHttpBesideGrpc(
        server,
        isGatewayPath,
        etcdGateway({
          loopback: gatewayLoopback,
          healthy: (excluded) => etcdHealthy(node!, excluded),
          maxBodyBytes: gatewayBodyLimit(cfg.maxRequestBytes),
          metrics: {
            render: async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() }),
            refusal: clientPortMetricsGuard(authn, { metricsAuth: cfg.metricsAuth ?? false }),
          },
        }),
      )
    : null;
  const health = new HealthImplementation({ '': 'NOT_SERVING', 'placement.v1.KvService': 'NOT_SERVING' });
  health.addToServer(server);
  const bind = (srv: grpc.Server, addr: string, creds: grpc.ServerCredentials): Promise<number> =>
    new Promise<number>((resolve, reject) => srv.bindAsync(addr, creds, (err, port) => (err ? reject(err) : resolve(port))));
  const grpcPort = await bind(server, cfg.listen, security.clientServer);
  const peerPort = peerServer ? await bind(peerServer, cfg.peerListen, security.peerServer!) : 0;

  let http: HttpServer | null = null;
  let httpPort = 0;
  let adminApp: ReturnType<typeof createAdminApp> | null = null;
  if (cfg.http) {
    const app = createAdminApp({
      backend: node,
      metrics,
      maxKeyBytes: cfg.maxKeyBytes,
      maxValueBytes: cfg.maxValueBytes,
      maxListLimit: cfg.maxListLimit,
      logger: log,
      auth: httpAuthMiddleware(authn, { metricsAuth: cfg.metricsAuth ?? false }),
      watchHub: etcdServices.hub,
      placement: { registry: placementServices.registry, shards: placementServices.shards, requestTimeoutMs: cfg.requestTimeoutMs },
      maintenance: { host: node, requestTimeoutMs: cfg.requestTimeoutMs },
      // The other members' admin ports serve what this one does: HTTPS asks with this node's certificate.
      peerGet: security.https ? httpsPeerGet(() => security.https!.watcher.current) : undefined,
    });
    adminApp = app;
    if (security.https) {
      const https = createHttpsServer(security.https.options, app);
      followCertificates(https, security.https.watcher);
      http = https;
    } else {
      http = createServer(app);
    }
    const { host, port } = splitHostPort(cfg.http);
    httpPort = await new Promise<number>((resolve, reject) => {
      http!.once('error', reject);
      http!.listen(port, host, () => resolve((http!.address() as import('node:net').AddressInfo).port));
    });
  }
  node.start();
  const policy = compactionPolicy(cfg.autoCompactionMode, cfg.autoCompactionRetention);
  const autoCompactor = policy ? new AutoCompactor(node, policy, { intervalMs: cfg.autoCompactionIntervalMs, log }) : null;
  autoCompactor?.start();
  health.setStatus('', 'SERVING');
  health.setStatus('placement.v1.KvService', 'SERVING');
  log.info(
    {
      version: VERSION,
      clusterId: cfg.clusterId,
      grpc: cfg.listen,
      grpcPort,
      ...(peerServer ? { peerListen: cfg.peerListen, peerPort } : {}),
      http: cfg.http || 'off',
      httpPort,
      dataDir: cfg.dataDir,
      peers: Object.fromEntries(cfg.peers),
      security: security.summary,
      // The Node.js/V8 flags in effect (launchers pass src/cli/v8-heap.ts's; memory depends on them).
      nodeFlags: process.execArgv,
      // The malloc in use (src/cli/allocator.ts: launchers preload jemalloc when the machine has it).
      allocator: runningAllocator(() => readFileSync('/proc/self/maps', 'utf8')),
    },
    'placement-center node started',
  );

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      log.info('shutting down: handing leadership over, then closing client connections');
      autoCompactor?.stop();
      health.setStatus('', 'NOT_SERVING');
      health.setStatus('placement.v1.KvService', 'NOT_SERVING');
      // Leadership first, while this member still serves (requests that reach it meanwhile are
      // forwarded to the new leader instead of refused).
      await node!.handOff();
      // Then no new calls on the client port: tryShutdown sends GOAWAY on every connection, so
      // clients start their next calls on other members (a gRPC client retries a call refused
      // that way by itself: Go's clientv3 saw 2 of 300 puts fail with "server stopped" when this
      // came after the node's shutdown, which refused requests while it drained); calls in flight
      // finish. Peers keep their own server, or their streams on this one, until the node stops.
      const closing = (srv: grpc.Server): Promise<void> => new Promise<void>((resolve) => srv.tryShutdown(() => resolve()));
      const clientClosed = closing(server);
      // Open Session and Watch streams would hold tryShutdown until the force timeout below.
      clientServices.closeSessions();
      etcdServices.closeStreams();
      placementServices.close();
      await node!.shutdown();
      const withForce = (srv: grpc.Server, closed: Promise<void>): Promise<void> =>
        new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            srv.forceShutdown();
            resolve();
          }, 2000);
          void closed.then(() => {
            clearTimeout(t);
            resolve();
          });
        });
      await Promise.all([withForce(server, clientClosed), ...(peerServer ? [withForce(peerServer, closing(peerServer))] : [])]);
      httpBeside?.close();
      gatewayLoopback?.close();
      security.close();
      if (http) {
        http.closeAllConnections();
        await new Promise<void>((r) => http!.close(() => r()));
      }
      log.info('stopped');
    })();
    return stopping;
  };
  node.removal.onRemoved = () => void stop();
  // grpc-js keeps its handlers in a private map; reading it is the only way to list what is served.
  const grpcMethods = (): string[] => [...((server as unknown as { handlers: Map<string, unknown> }).handlers.keys())];
  const httpRoutes = (): Array<{ method: string; path: string }> => (adminApp ? listRoutes(adminApp) : []);
  return { node, grpcPort, peerPort, httpPort, log, metrics, grpcMethods, httpRoutes, stop };
}

/** Starts the node and wires SIGINT/SIGTERM to a graceful stop (a second signal exits at once). */
export async function runNode(cfg: NodeConfig): Promise<void> {
  let running: RunningNode;
  try {
    running = await startNode(cfg);
  } catch (err) {
    if (err instanceof StartupRefusal) {
      // What is wrong and what to do, without a stack: this is about the data, not the code.
      process.stderr.write(`placement-center: member ${cfg.id} refuses to start on ${cfg.dataDir}:\n  ${err.what}\n  Way back: ${err.wayBack}\n`);
      process.exit(EXIT_REFUSED);
    }
    throw err;
  }
  // Removed from the cluster: stop as on SIGTERM, and exit 0 (nothing went wrong).
  running.node.removal.onRemoved = () => {
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      running.log.warn({ signal: sig }, 'second signal: exiting immediately');
      process.exit(130);
    }
    running.log.info({ signal: sig }, 'signal received: stopping gracefully');
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        running.log.error({ err: (err as Error).message }, 'graceful stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
