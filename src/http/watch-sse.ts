// GET /v1/watch as Server-Sent Events: the changes of a key or prefix, one SSE event per
// revision (`id:` = the revision), from the node's watch hub like every other watch. A client
// that reconnects with Last-Event-ID continues after that revision (browsers' EventSource does
// so by itself), without gap or repeat while the history is retained; when it was compacted the
// stream sends a `compacted` event and ends. A reader that falls behind is caught up from history
// (the hub's bounds), never buffered without limit.
import type { Express, Request, Response } from 'express';
import { KeyValue as PbKeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { KeyEvent } from '../../storage/index.js';
import type { WatchHub, WatchSink } from '../watch/hub.js';
import type { Watcher } from '../watch/watcher.js';
import { PlacementError } from '../errors.js';

/** Comment lines that keep idle connections (and proxies) from timing out. */
const KEEPALIVE_MS = 15_000;

export interface WatchRouteOptions {
  maxKeyBytes: number;
}

function kvJson(b: Buffer): Record<string, unknown> {
  const kv = PbKeyValue.decode(b);
  const value = Buffer.from(kv.value);
  const text = value.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(value);
  return {
    key: Buffer.from(kv.key).toString('utf8'),
    value: utf8 ? text : value.toString('base64'),
    encoding: utf8 ? 'utf8' : 'base64',
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

function prefixEnd(p: string): string | undefined {
  const b = Buffer.from(p, 'latin1');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1).toString('latin1');
    }
  }
  return undefined;
}

const bad = (message: string): PlacementError => new PlacementError('INVALID_ARGUMENT', message);

function revisionParam(raw: unknown, what: string): number {
  if (raw === undefined || raw === '') return 0;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) throw bad(`${what}: expected a non-negative integer`);
  return Number(raw);
}

/** One SSE response as a hub stream sink. */
class SseSink implements WatchSink {
  ended = false;
  constructor(private readonly res: Response) {}

  events(w: Watcher, events: readonly KeyEvent[], _revision: number, done: () => void): void {
    if (this.ended) return done();
    let out = '';
    let i = 0;
    while (i < events.length) {
      const rev = events[i]!.rev;
      const list: unknown[] = [];
      for (; i < events.length && events[i]!.rev === rev; i++) {
        const e = events[i]!;
        list.push({ type: e.isDelete ? 'DELETE' : 'PUT', kv: kvJson(e.kv), ...(w.prevKv && e.prevKv ? { prevKv: kvJson(e.prevKv) } : {}) });
      }
      out += `id: ${rev}\nevent: change\ndata: ${JSON.stringify({ revision: rev, events: list })}\n\n`;
    }
    this.res.write(out, () => done());
  }

  compacted(_w: Watcher, compactRevision: number): void {
    if (this.ended) return;
    this.res.write(`event: compacted\ndata: ${JSON.stringify({ compactRevision, error: `revisions below ${compactRevision} were compacted; re-read and watch from ${compactRevision}` })}\n\n`);
    this.res.end();
  }

  progress(_watchId: number, revision: number): void {
    if (!this.ended) this.res.write(`: progress ${revision}\n\n`);
  }
}

export function registerWatchRoute(app: Express, hub: WatchHub | null, opts: WatchRouteOptions): void {
  app.get('/v1/watch', (req: Request, res: Response) => {
    if (!hub) throw new PlacementError('UNAVAILABLE', 'this server does not serve watches');
    const q = req.query as Record<string, unknown>;
    const prefix = q.prefix;
    const key = q.key;
    if ((prefix === undefined) === (key === undefined)) throw bad('give exactly one of key (one key) or prefix ("" = every key)');
    const k = (prefix ?? key) as unknown;
    if (typeof k !== 'string') throw bad('key/prefix: expected one string');
    if (Buffer.byteLength(k, 'utf8') > opts.maxKeyBytes) throw bad(`key/prefix: longer than ${opts.maxKeyBytes} bytes`);
    if (key !== undefined && k === '') throw bad('key: must not be empty (prefix= watches every key)');
    if (q.prevKv !== undefined && q.prevKv !== 'true' && q.prevKv !== 'false') throw bad('prevKv: expected true or false');
    let start = revisionParam(q.startRevision, 'startRevision');
    const last = req.headers['last-event-id'];
    if (last !== undefined) start = revisionParam(String(last), 'Last-Event-ID') + 1;
    const from = Buffer.from(k, 'utf8').toString('latin1');

    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(': watching\n\n');
    const sink = new SseSink(res);
    const stream = hub.openStream(sink);
    const created = stream.watch(0, {
      from: prefix !== undefined && k === '' ? '\u0000' : from,
      to: prefix !== undefined ? (k === '' ? undefined : prefixEnd(from)) : undefined,
      single: prefix === undefined,
      startRevision: start,
      prevKv: q.prevKv === 'true',
      noPut: false,
      noDelete: false,
      progressNotify: false,
      fragment: false,
    });
    if ('error' in created) {
      res.write(`event: error\ndata: ${JSON.stringify({ error: created.error })}\n\n`);
      res.end();
    }
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    res.on('close', () => {
      sink.ended = true;
      clearInterval(keepalive);
      stream.close();
    });
  });
}
