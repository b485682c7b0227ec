// The admin HTTP plane of a node: /v1 admin API (JSON envelope), /metrics, /livez, /readyz, and
// the dashboard at /ui/ (ui.ts).
// Everything the routes need from the node goes through AdminBackend (backend.ts), so this file
// has no knowledge of Raft or storage and is tested against an in-memory backend.
//
// Envelope: success `{"code":0,"data":…}`; failure `{"code":<gRPC code number>,"data":null,
// "error":"…"}` with the HTTP status of src/errors.ts (400 bad input, 404 unknown, 409 conflict,
// 413 body too large, 503 no leader…). When a failure names a known leader, the response also
// carries `X-Placement-Leader-Id` / `X-Placement-Leader-Address` headers.
import type { WatchHub } from '../watch/hub.js';
import { registerWatchRoute } from './watch-sse.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { z } from 'zod';
import { ResultCode, type Command, type CommandResult, type ConfigEntry, type Lease, type User } from '../../proto/gen/placement/v1/command.js';
import type { KeyValue } from '../../proto/gen/placement/v1/kv.js';
import type { MembershipRequest } from '../../proto/gen/placement/v1/peer.js';
import { PlacementError, envelopeCode, toHttpStatus, type ErrorCode } from '../errors.js';
import { answerResult } from '../results.js';
import type { Metrics } from '../metrics/metrics.js';
import type { AdminBackend, HealthCheck, ReadOptions } from './backend.js';
import { registerPlacementRoutes, type PlacementHttp } from './placement.js';
import { registerMaintenanceRoutes, type MaintenanceHttp } from './maintenance.js';
import { listChildren } from './children.js';
import { clusterOverview, httpPeerGet, type NodeStatus, type PeerGet } from './overview.js';
import { VERSION } from '../version.js';
import { mountUi } from './ui.js';
import { buildOpenApiDocument } from './openapi.js';
import { hashPassword } from './passwords.js';
import { callerOf } from '../auth/context.js';
import { assertRequestStillPermitted } from '../auth/read-recheck.js';
import {
  configNameSchema,
  configPutBodySchema,
  keyQuerySchema,
  kvPutBodySchema,
  listQuerySchema,
  memberAddBodySchema,
  memberUpdateBodySchema,
  memberIdSchema,
  moveLeaderBodySchema,
  compactionBodySchema,
  permissionsBodySchema,
  readQuerySchema,
  userCreateBodySchema,
  userNameSchema,
  leaseIdSchema,
  userUpdateBodySchema,
} from './schemas.js';

/** Minimal logger shape (pino's Logger satisfies it). */
export interface AdminLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface AdminAppOptions {
  /** The node (or a test double). */
  backend: AdminBackend;
  /** Auth middleware (src/auth/guard.ts httpAuthMiddleware); none: every route open. */
  auth?: (req: Request, res: Response, next: NextFunction) => void;
  /** The node's metrics; `GET /metrics` renders `metrics.registry`, and every request is counted in it. */
  metrics: Metrics;
  /** Where unexpected (500) errors and body-parser failures are logged. Default: silent. */
  logger?: AdminLogger;
  /** Maximum JSON body size (body-parser syntax). Default `2mb` (a 1 MiB value in base64 fits). */
  bodyLimit?: string;
  /** Maximum key length in UTF-8 bytes. Default 4096 (same default as the gRPC API). */
  maxKeyBytes?: number;
  /** Maximum value length in bytes (after base64 decoding). Default 1 MiB. */
  maxValueBytes?: number;
  /** The built dashboard served at /ui/; default: dist/ui/ found next to the code; null: none. */
  uiDir?: string | null;
  /** How GET /v1/cluster/overview asks the other members' admin API. Default: plain HTTP. */
  peerGet?: PeerGet;
  /** How long it waits for each member. Default 1500 ms. */
  peerTimeoutMs?: number;
  /** The node's watch hub: serves GET /v1/watch (Server-Sent Events); absent: that route answers UNAVAILABLE. */
  watchHub?: WatchHub;
  /** Largest page a list may ask for (--max-list-limit). Default 1000 (the gRPC API's default). */
  maxListLimit?: number;
  /** The broker registry and shard map (src/http/placement.ts); absent: those routes answer UNAVAILABLE. */
  placement?: PlacementHttp;
  /** The node's maintenance operations (src/http/maintenance.ts); absent: those routes answer UNAVAILABLE. */
  maintenance?: MaintenanceHttp;
}

export const DEFAULT_MAX_KEY_BYTES = 4096;
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_LIST_LIMIT = 1000;
/** Query parameters of a list that make no sense with `key` (one key). */
const LIST_ONLY_PARAMS = ['prefix', 'startAfter', 'limit', 'keysOnly', 'delimiter'] as const;

type Encoding = 'utf8' | 'base64';

/** A value rendered for JSON: UTF-8 text when it is valid UTF-8 (unless base64 is asked), else base64. */
export function encodeValue(buf: Uint8Array, requested?: Encoding): { value: string; encoding: Encoding } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (requested !== 'base64') {
    try {
      return { value: new TextDecoder('utf-8', { fatal: true }).decode(b), encoding: 'utf8' };
    } catch {
      /* not UTF-8: fall through to base64 */
    }
  }
  return { value: b.toString('base64'), encoding: 'base64' };
}

function kvJson(kv: KeyValue, encoding?: Encoding, keysOnly = false) {
  const base = {
    key: kv.key,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
  return keysOnly ? base : { ...base, ...encodeValue(kv.value, encoding) };
}

/** A user as the API shows it: never the hash or the salt. */
function userJson(u: User) {
  return {
    name: u.name,
    permissions: u.permissions.map((p) => ({ prefix: p.prefix, read: p.read, write: p.write })),
    createdAtMs: u.createdAtMs,
    updatedAtMs: u.updatedAtMs,
  };
}

function configJson(c: ConfigEntry, encoding?: Encoding) {
  return { name: c.name, ...encodeValue(c.value, encoding), modRevision: c.modRevision, updatedAtMs: c.updatedAtMs };
}

function leaseJson(l: Lease) {
  return { id: l.id, ttlMs: l.ttlMs, expiresAtMs: l.expiresAtMs };
}

/** Converts an Express path (`/v1/users/:name`, `/v1/kv/*key`) to OpenAPI form (`/v1/users/{name}`). */
export function toOpenApiPath(expressPath: string): string {
  return expressPath.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}');
}

/** Every route registered on an app made by createAdminApp, as `{ method: 'get', path: '/v1/users/{name}' }`. */
export function listRoutes(app: express.Express): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = [];
  const router = (app as unknown as { router: { stack: RouteLayer[] } }).router;
  for (const layer of router.stack) {
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (on && method !== '_all') out.push({ method, path: toOpenApiPath(layer.route.path) });
    }
  }
  return out;
}

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
  match?: (path: string) => boolean;
}

function fail(code: ErrorCode, message: string): PlacementError {
  return new PlacementError(code, message);
}

/** Formats zod issues as `field: rule; field: rule`. */
function zodMessage(err: z.ZodError, where: 'body' | 'query' | 'path'): string {
  return err.issues
    .map((i) => {
      const field = i.path.length > 0 ? i.path.map(String).join('.') : where;
      return `${field}: ${i.message}`;
    })
    .join('; ');
}

function parse<S extends z.ZodType>(schema: S, input: unknown, where: 'body' | 'query' | 'path'): z.output<S> {
  if (where === 'body' && (input === undefined || input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw fail('INVALID_ARGUMENT', 'body: must be a JSON object (send Content-Type: application/json)');
  }
  const r = schema.safeParse(input);
  if (!r.success) throw fail('INVALID_ARGUMENT', zodMessage(r.error, where));
  return r.data;
}

function decodeValue(value: string, encoding: Encoding | undefined, field: string, maxBytes: number): Buffer {
  let buf: Buffer;
  if (encoding === 'base64') {
    if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
      throw fail('INVALID_ARGUMENT', `${field}: is not valid base64 (encoding is base64)`);
    }
    buf = Buffer.from(value, 'base64');
  } else {
    buf = Buffer.from(value, 'utf8');
  }
  if (buf.length > maxBytes) {
    throw fail('INVALID_ARGUMENT', `${field}: must be at most ${maxBytes} bytes (value size limit), got ${buf.length}`);
  }
  return buf;
}

function checkKey(key: string, field: string, maxBytes: number, allowEmpty = false): void {
  if (!allowEmpty && key.length === 0) throw fail('INVALID_ARGUMENT', `${field}: must not be empty`);
  const n = Buffer.byteLength(key, 'utf8');
  if (n > maxBytes) {
    throw fail('INVALID_ARGUMENT', `${field}: must be at most ${maxBytes} bytes (key size limit), got ${n}`);
  }
}

/** The key of `/v1/kv/*key`: path segments joined with `/` (so `/v1/kv//a/b` is `/a/b`; `%2F` also works). */
function keyParam(req: Request): string {
  const raw = (req.params as Record<string, string | string[] | undefined>).key;
  return Array.isArray(raw) ? raw.join('/') : (raw ?? '');
}

function nameParam(req: Request): string {
  const raw = (req.params as Record<string, string | string[] | undefined>).name;
  return Array.isArray(raw) ? raw.join('/') : (raw ?? '');
}

function readOpts(q: { serializable?: boolean }): ReadOptions {
  return q.serializable ? { serializable: true } : {};
}

function ok(res: Response, data: unknown, status = 200): void {
  res.status(status).json({ code: 0, data });
}

function sendError(res: Response, httpStatus: number, code: number, message: string): void {
  if (res.headersSent) return;
  res.status(httpStatus).json({ code, data: null, error: message });
}

/** The result when the command was applied; the PlacementError its row in src/results.ts names otherwise. */
function checkResult(result: CommandResult, what: string): CommandResult {
  return answerResult(result, { what });
}

/**
 * The result of a compare-and-swap PUT when it wrote; a FAILED_PRECONDITION naming the key's
 * current mod revision when the comparison did not hold (nothing was written).
 */
function casResult(r: CommandResult, key: string, expected: number): CommandResult {
  const result = answerResult(r, { what: `key ${key}`, replySaysUnmet: true });
  if (result.code === ResultCode.RESULT_OK && result.succeeded) return result;
  const now = result.prevKv;
  const why =
    now === undefined
      ? `key ${key} does not exist (expectedModRevision ${expected})`
      : expected === 0
        ? `key ${key} exists at mod revision ${now.modRevision} (expectedModRevision 0: it must not exist)`
        : `key ${key} is at mod revision ${now.modRevision}, not ${expected}: it changed since it was read`;
  throw fail('FAILED_PRECONDITION', `compare failed: ${why}; nothing written`);
}

function command(op: NonNullable<Command['op']>): Command {
  // The leader stamps leaderTimeMs; an empty clientId disables de-duplication (HTTP has no retry ids).
  return { clientId: '', seq: 0, leaderTimeMs: 0, op };
}

/** Proposes `op` for the caller the auth middleware bound to `req` (src/auth/context.ts). */
function proposerFor(backend: AdminBackend): (req: Request, op: NonNullable<Command['op']>) => Promise<CommandResult> {
  return (req, op) => backend.propose(command(op), undefined, callerOf(req));
}

/** The state-machine database size the node reports through its metrics (read at scrape time). */
async function dbSizeBytes(metrics: Metrics): Promise<number | null> {
  const v = (await metrics.dbSize.get()).values[0]?.value;
  return typeof v === 'number' ? v : null;
}

async function health(res: Response, checks: Promise<HealthCheck[]>): Promise<void> {
  let list: HealthCheck[];
  try {
    list = await checks;
  } catch (err) {
    list = [{ name: 'backend', ok: false, detail: err instanceof Error ? err.message : String(err) }];
  }
  const healthy = list.every((c) => c.ok);
  res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'failing', checks: list });
}

/**
 * Builds the admin Express app of one node. Mount it with `app.listen(port, host)` or
 * `http.createServer(app)`. Routes (all JSON): see `GET /v1/openapi.json`.
 */
export function createAdminApp(opts: AdminAppOptions): express.Express {
  const { backend, metrics, logger } = opts;
  const propose = proposerFor(backend);
  const maxKeyBytes = opts.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
  const maxValueBytes = opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  const maxListLimit = opts.maxListLimit ?? DEFAULT_MAX_LIST_LIMIT;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Request metrics: counted by route template (never the raw URL, to bound cardinality).
  app.use((req: Request, res: Response, next: NextFunction) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route ? `${req.baseUrl}${String((req.route as { path: string }).path)}` : 'unmatched';
      metrics.observeHttp(req.method, route, res.statusCode, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  });
  app.use(express.json({ limit: opts.bodyLimit ?? '2mb' }));
  // Who may call which route once auth is on (src/auth/guard.ts); health, readiness and the
  // dashboard's files stay open.
  if (opts.auth) app.use(opts.auth);

  // ---------------------------------------------------------------- health and metrics
  app.get('/livez', (_req, res) => health(res, backend.livez()));
  app.get('/readyz', (_req, res) => health(res, backend.readyz()));
  app.get('/metrics', async (_req, res) => {
    const text = await metrics.render();
    res.set('Content-Type', metrics.contentType).send(text);
  });

  // ---------------------------------------------------------------- cluster
  const nodeStatus = async (): Promise<NodeStatus> => ({ ...(await backend.status()), version: VERSION, dbSizeBytes: await dbSizeBytes(metrics) });
  app.get('/v1/cluster/status', async (_req, res) => ok(res, await nodeStatus()));
  app.get('/v1/cluster/overview', async (req, res) => {
    const auth = req.headers.authorization;
    ok(
      res,
      await clusterOverview({
        backend,
        self: nodeStatus,
        peerGet: opts.peerGet ?? httpPeerGet,
        timeoutMs: opts.peerTimeoutMs ?? 1500,
        headers: auth ? { authorization: auth } : {},
      }),
    );
  });
  app.get('/v1/cluster/members', async (_req, res) => ok(res, { members: await backend.members() }));
  // Membership: one change at a time, carried out by the leader (any member accepts them).
  const membership = async (req: MembershipRequest, res: Response, status = 200): Promise<void> => {
    if (!backend.changeMembership) throw fail('FAILED_PRECONDITION', 'membership changes are not available on this server');
    const memberId = await backend.changeMembership(req);
    ok(res, { memberId, members: await backend.members() }, status);
  };
  app.post('/v1/cluster/members', async (req, res) => {
    const body = parse(memberAddBodySchema, req.body, 'body');
    await membership({ op: 'add', id: body.id, address: body.address, isLearner: body.isLearner }, res, 201);
  });
  app.delete('/v1/cluster/members/:id', async (req, res) => {
    await membership({ op: 'remove', id: parse(memberIdSchema, req.params.id, 'path'), address: '', isLearner: false }, res);
  });
  app.put('/v1/cluster/members/:id', async (req, res) => {
    const id = parse(memberIdSchema, req.params.id, 'path');
    const body = parse(memberUpdateBodySchema, req.body, 'body');
    await membership({ op: 'update', id, address: body.address, isLearner: false }, res);
  });
  app.post('/v1/cluster/members/:id/promote', async (req, res) => {
    await membership({ op: 'promote', id: parse(memberIdSchema, req.params.id, 'path'), address: '', isLearner: false }, res);
  });
  app.post('/v1/cluster/move-leader', async (req, res) => {
    const body = parse(moveLeaderBodySchema, req.body, 'body');
    await membership({ op: 'move-leader', id: body.targetId, address: '', isLearner: false }, res);
  });
  app.get('/v1/debug/hash', async (_req, res) => ok(res, await backend.stateHash()));
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(buildOpenApiDocument({ maxKeyBytes, maxValueBytes }));
  });

  // ---------------------------------------------------------------- kv
  // One key is addressed either by path (/v1/kv/brokers/1 is key "brokers/1"; /v1/kv//brokers/1
  // or %2F for "/brokers/1") or, for keys that start with "/", by query: /v1/kv?key=/brokers/1.
  const getKey = async (key: string, req: Request, res: Response): Promise<void> => {
    checkKey(key, 'key', maxKeyBytes);
    const q = parse(readQuerySchema, req.query, 'query');
    const kv = await backend.get(key, readOpts(q));
    assertRequestStillPermitted(backend.authState?.(), req);
    if (!kv) throw fail('NOT_FOUND', `key not found: ${key}`);
    ok(res, kvJson(kv, q.encoding));
  };
  const putKey = async (key: string, req: Request, res: Response): Promise<void> => {
    checkKey(key, 'key', maxKeyBytes);
    const body = parse(kvPutBodySchema, req.body, 'body');
    const value = decodeValue(body.value, body.encoding, 'value', maxValueBytes);
    const lease = body.lease ?? 0;
    const expected = body.expectedModRevision;
    const result =
      expected === undefined
        ? checkResult(await propose(req, { $case: 'put', value: { key, value, lease, prevKv: true } }), `key ${key}`)
        : casResult(
            await propose(req, { $case: 'cas', value: { key, expect: { $case: 'expectedModRevision', value: expected }, value, lease } }),
            key,
            expected,
          );
    ok(res, {
      key,
      revision: result.revision,
      prevKv: result.prevKv ? kvJson(result.prevKv, body.encoding) : null,
    });
  };
  const deleteKey = async (key: string, req: Request, res: Response): Promise<void> => {
    checkKey(key, 'key', maxKeyBytes);
    const result = checkResult(await propose(req, { $case: 'delete', value: { key, prevKv: true } }), `key ${key}`);
    if (!result.succeeded && !result.prevKv) throw fail('NOT_FOUND', `key not found: ${key}`);
    ok(res, { key, deleted: true, revision: result.revision, prevKv: result.prevKv ? kvJson(result.prevKv) : null });
  };
  /** The `key` query parameter; undefined when absent. */
  const keyQuery = (req: Request): string | undefined => {
    const raw = (req.query as Record<string, unknown>).key;
    if (raw === undefined) return undefined;
    return parse(keyQuerySchema, { key: raw }, 'query').key;
  };
  const requireKeyQuery = (req: Request): string => {
    const key = keyQuery(req);
    if (key === undefined) throw fail('INVALID_ARGUMENT', 'key: required (/v1/kv?key=/brokers/1, or the key in the path: /v1/kv/{key})');
    return key;
  };

  app.get('/v1/kv', async (req, res) => {
    const key = keyQuery(req);
    if (key !== undefined) {
      const listOnly = LIST_ONLY_PARAMS.filter((p) => p in (req.query as object));
      if (listOnly.length > 0) throw fail('INVALID_ARGUMENT', `key: cannot be combined with ${listOnly.join(', ')} (those list keys; key reads one)`);
      await getKey(key, req, res);
      return;
    }
    const q = parse(listQuerySchema, req.query, 'query');
    if (q.limit > maxListLimit) throw fail('INVALID_ARGUMENT', `limit: ${q.limit} is over the maximum of ${maxListLimit} (max-list-limit)`);
    checkKey(q.prefix, 'prefix', maxKeyBytes, true);
    checkKey(q.startAfter, 'startAfter', maxKeyBytes, true);
    const keysOnly = q.keysOnly ?? false;
    if (q.delimiter !== undefined) {
      const tree = await listChildren(
        backend,
        { prefix: q.prefix, delimiter: q.delimiter, startAfter: q.startAfter, limit: q.limit, keysOnly },
        readOpts(q),
        maxKeyBytes,
      );
      assertRequestStillPermitted(backend.authState?.(), req);
      ok(res, {
        kvs: tree.kvs.map((kv) => kvJson(kv, q.encoding, keysOnly)),
        prefixes: tree.prefixes,
        more: tree.more,
        nextKey: tree.nextKey,
      });
      return;
    }
    const page = await backend.list(
      { prefix: q.prefix, startAfter: q.startAfter, limit: q.limit, keysOnly },
      readOpts(q),
    );
    assertRequestStillPermitted(backend.authState?.(), req);
    ok(res, {
      kvs: page.kvs.map((kv) => kvJson(kv, q.encoding, keysOnly)),
      more: page.more,
      nextKey: page.more ? page.nextKey : '',
    });
  });
  registerWatchRoute(app, opts.watchHub ?? null, { maxKeyBytes });
  app.put('/v1/kv', async (req, res) => putKey(requireKeyQuery(req), req, res));
  app.delete('/v1/kv', async (req, res) => deleteKey(requireKeyQuery(req), req, res));
  app.get('/v1/kv/*key', async (req, res) => getKey(keyParam(req), req, res));
  app.put('/v1/kv/*key', async (req, res) => putKey(keyParam(req), req, res));
  app.delete('/v1/kv/*key', async (req, res) => deleteKey(keyParam(req), req, res));

  // ---------------------------------------------------------------- compaction
  app.post('/v1/compaction', async (req, res) => {
    const body = parse(compactionBodySchema, req.body, 'body');
    ok(res, await backend.compact(body.revision, body.physical ?? false, callerOf(req)));
  });

  registerPlacementRoutes(app, opts.placement);
  registerMaintenanceRoutes(app, opts.maintenance);

  // ---------------------------------------------------------------- leases
  app.get('/v1/leases', async (req, res) => {
    const q = parse(readQuerySchema, req.query, 'query');
    ok(res, { leases: (await backend.listLeases(readOpts(q))).map(leaseJson) });
  });
  /** Revokes: the lease and every key attached to it are deleted in one revision. */
  app.delete('/v1/leases/:id', async (req, res) => {
    const id = parse(leaseIdSchema, (req.params as Record<string, string>).id, 'path') as number;
    const r = await backend.revokeLease(id, callerOf(req));
    ok(res, { id, revoked: true, revision: r.revision });
  });

  // ---------------------------------------------------------------- users
  const userName = (req: Request): string => parse(userNameSchema, nameParam(req), 'path') as string;
  const loadUser = async (name: string): Promise<User> => {
    const user = await backend.getUser(name);
    if (!user) throw fail('NOT_FOUND', `user not found: ${name}`);
    return user;
  };
  /** Proposes the user, then answers the stored version (the state machine may stamp times). */
  const putUser = async (req: Request, user: User, mode: 'create' | 'update'): Promise<User> => {
    checkResult(
      await propose(req, {
        $case: 'userPut',
        value: { user, createOnly: mode === 'create', updateOnly: mode === 'update' },
      }),
      `user ${user.name}`,
    );
    return (await backend.getUser(user.name)) ?? user;
  };

  app.get('/v1/users', async (req, res) => {
    const q = parse(readQuerySchema, req.query, 'query');
    ok(res, { users: (await backend.listUsers(readOpts(q))).map(userJson) });
  });
  app.post('/v1/users', async (req, res) => {
    const body = parse(userCreateBodySchema, req.body, 'body');
    for (const [i, p] of body.permissions.entries()) checkKey(p.prefix, `permissions.${i}.prefix`, maxKeyBytes, true);
    const { hash, salt } = await hashPassword(body.password);
    const now = Date.now();
    const user: User = {
      name: body.name,
      passwordHash: hash,
      salt,
      permissions: body.permissions,
      createdAtMs: now,
      updatedAtMs: now,
    };
    ok(res, userJson(await putUser(req, user, 'create')), 201);
  });
  app.get('/v1/users/:name', async (req, res) => {
    const name = userName(req);
    const q = parse(readQuerySchema, req.query, 'query');
    const user = await backend.getUser(name, readOpts(q));
    if (!user) throw fail('NOT_FOUND', `user not found: ${name}`);
    ok(res, userJson(user));
  });
  app.put('/v1/users/:name', async (req, res) => {
    const name = userName(req);
    const body = parse(userUpdateBodySchema, req.body, 'body');
    for (const [i, p] of (body.permissions ?? []).entries()) {
      checkKey(p.prefix, `permissions.${i}.prefix`, maxKeyBytes, true);
    }
    const existing = await loadUser(name);
    const secret = body.password !== undefined ? await hashPassword(body.password) : null;
    const user: User = {
      ...existing,
      passwordHash: secret ? secret.hash : existing.passwordHash,
      salt: secret ? secret.salt : existing.salt,
      permissions: body.permissions ?? existing.permissions,
      updatedAtMs: Date.now(),
    };
    ok(res, userJson(await putUser(req, user, 'update')));
  });
  app.delete('/v1/users/:name', async (req, res) => {
    const name = userName(req);
    checkResult(await propose(req, { $case: 'userDelete', value: { name } }), `user ${name}`);
    ok(res, { name, deleted: true });
  });
  app.get('/v1/users/:name/permissions', async (req, res) => {
    const name = userName(req);
    const q = parse(readQuerySchema, req.query, 'query');
    const user = await backend.getUser(name, readOpts(q));
    if (!user) throw fail('NOT_FOUND', `user not found: ${name}`);
    ok(res, { name, permissions: userJson(user).permissions });
  });
  app.put('/v1/users/:name/permissions', async (req, res) => {
    const name = userName(req);
    const body = parse(permissionsBodySchema, req.body, 'body');
    for (const [i, p] of body.permissions.entries()) checkKey(p.prefix, `permissions.${i}.prefix`, maxKeyBytes, true);
    const existing = await loadUser(name);
    const user: User = { ...existing, permissions: body.permissions, updatedAtMs: Date.now() };
    ok(res, { name, permissions: userJson(await putUser(req, user, 'update')).permissions });
  });

  // ---------------------------------------------------------------- config entries
  const configName = (req: Request): string => parse(configNameSchema, nameParam(req), 'path') as string;
  app.get('/v1/config', async (req, res) => {
    const q = parse(readQuerySchema, req.query, 'query');
    ok(res, { entries: (await backend.listConfig(readOpts(q))).map((c) => configJson(c, q.encoding)) });
  });
  app.get('/v1/config/*name', async (req, res) => {
    const name = configName(req);
    const q = parse(readQuerySchema, req.query, 'query');
    const entry = await backend.getConfig(name, readOpts(q));
    if (!entry) throw fail('NOT_FOUND', `config entry not found: ${name}`);
    ok(res, configJson(entry, q.encoding));
  });
  app.put('/v1/config/*name', async (req, res) => {
    const name = configName(req);
    const body = parse(configPutBodySchema, req.body, 'body');
    const value = decodeValue(body.value, body.encoding, 'value', maxValueBytes);
    const result = checkResult(
      await propose(req, { $case: 'configSet', value: { name, value } }),
      `config entry ${name}`,
    );
    ok(res, { name, revision: result.revision });
  });
  app.delete('/v1/config/*name', async (req, res) => {
    const name = configName(req);
    const result = checkResult(
      await propose(req, { $case: 'configDelete', value: { name } }),
      `config entry ${name}`,
    );
    ok(res, { name, deleted: true, revision: result.revision });
  });

  // ---------------------------------------------------------------- the dashboard
  mountUi(app, { dir: opts.uiDir, sendError, notFoundCode: envelopeCode('NOT_FOUND'), unavailableCode: envelopeCode('UNAVAILABLE') });

  // ---------------------------------------------------------------- fallbacks
  // Known path, other method → 405 with Allow; unknown path → JSON 404 (never Express's HTML).
  app.use((req: Request, res: Response) => {
    const router = (app as unknown as { router: { stack: RouteLayer[] } }).router;
    const allowed = new Set<string>();
    for (const layer of router.stack) {
      if (layer.route && layer.match?.(req.path)) {
        for (const [m, on] of Object.entries(layer.route.methods)) if (on) allowed.add(m.toUpperCase());
      }
    }
    if (allowed.size > 0) {
      if (allowed.has('GET')) allowed.add('HEAD');
      res.set('Allow', [...allowed].sort().join(', '));
      sendError(res, 405, 12, `method ${req.method} not allowed on ${req.path}; allowed: ${[...allowed].sort().join(', ')}`);
      return;
    }
    sendError(res, 404, envelopeCode('NOT_FOUND'), `no route: ${req.method} ${req.path}`);
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof PlacementError) {
      if (err.leaderId) res.set('X-Placement-Leader-Id', String(err.leaderId));
      if (err.leaderAddress) res.set('X-Placement-Leader-Address', err.leaderAddress);
      if (err.code === 'INTERNAL') logger?.error({ err, method: req.method, path: req.path }, 'admin request failed');
      sendError(res, toHttpStatus(err.code), envelopeCode(err.code), err.message);
      return;
    }
    // body-parser errors carry `type` and a 4xx `status`.
    const e = err as { type?: string; status?: number; statusCode?: number; message?: string; limit?: number };
    const status = e.status ?? e.statusCode;
    switch (e.type) {
      case 'entity.too.large':
        sendError(
          res,
          413,
          envelopeCode('RESOURCE_EXHAUSTED'),
          `body: must be at most ${opts.bodyLimit ?? '2mb'} (request body size limit)`,
        );
        return;
      case 'entity.parse.failed':
        sendError(res, 400, envelopeCode('INVALID_ARGUMENT'), `body: malformed JSON (${e.message ?? 'parse error'})`);
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendError(res, 415, envelopeCode('INVALID_ARGUMENT'), `body: ${e.message ?? 'unsupported encoding'}`);
        return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendError(res, status, envelopeCode('INVALID_ARGUMENT'), e.message ?? 'bad request');
      return;
    }
    logger?.error({ err, method: req.method, path: req.path }, 'admin request failed');
    sendError(res, 500, envelopeCode('INTERNAL'), 'internal error');
  });

  return app;
}
