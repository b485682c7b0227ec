// etcdserverpb.Watch on a member's gRPC port, served by every member (followers too), with etcd
// 3.4's behaviour (etcdserver/api/v3rpc/watch.go, mvcc/watcher.go, mvcc/watchable_store.go):
//
// - create: an empty key is "\0"; range_end empty = the key alone, "\0" = every key from `key`
//   on. Answered `created` with the watcher's id and a header at the current revision; refused
//   as `created` + `canceled`, watch_id -1 and etcd's reason (duplicate id, empty range).
//   start_revision 0 = from the next revision.
// - a create the caller may not make (auth on, no READ on the whole range): `created` +
//   `canceled`, watch_id -1 and etcd's reason; the stream and its other watchers go on.
// - cancel: answered `canceled` with the id; an unknown id is ignored, as etcd does.
// - progress_request: a response with watch_id -1 and no events, sent once every watcher of the
//   stream has been sent everything up to its revision (etcd 3.4 answered at once, even while
//   watchers were behind; etcd 3.5 made it wait, as here).
// - compaction: `canceled` with `compact_revision`, header revision 0 and no reason, as 3.4 does.
// - A revision's events are never split unless the watcher asked for fragments and the response
//   would exceed etcd's limit; several revisions may share a response (its header revision is
//   then the last one covered).
// - Streams carrying metadata hasleader=true (etcdctl, clientv3's WithRequireLeader, our SDK)
//   are refused, and later ended, with Unavailable "etcdserver: no leader" when this member has
//   had no leader for three election timeouts; a graceful stop ends every stream with
//   Unavailable "etcdserver: server stopped". Clients resume elsewhere from their last revision.
//
// The watchers themselves live in the hub (src/watch/hub.ts); this module speaks the protocol.

import * as grpc from '@grpc/grpc-js';
import type { Metrics } from '../../metrics/metrics.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import { WatchRequest } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { WatchCreateRequest_FilterType as Filter, type WatchCreateRequest } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { decodeClamped } from '../../../proto/codec.js';
import { AUTH_ERR, DEFAULT_MAX_REQUEST_BYTES, type KeyEvent } from '../../../storage/index.js';
import type { WatchHub, HubStream, WatchSink } from '../../watch/hub.js';
import type { Watcher, WatchSpec } from '../../watch/watcher.js';
import { malformedReason, tolerant, type Maybe } from '../../grpc/malformed.js';
import type { Logger } from '../../log.js';
import { ETCD_STOPPED, serviceError } from './errors.js';
import { noLeader, requiresLeader, type LeaderMonitor } from './require-leader.js';
import { learnerRefusal } from './learner.js';
import type { HeaderFiller } from './header.js';
import { watchCreateRefusal } from './permissions.js';
import { GRPC_OVERHEAD_BYTES } from './wire.js';
import { encodeEvents, encodeSplicedEvents, encodeWatchResponse, wireBaseSize, wireEventSize, type WireEvent, type WireHeader, type WireResponse } from './watch-wire.js';
import { messageWriter, type MessageWriter } from '../../grpc/stream-writer.js';
import { ReadGate } from '../../grpc/read-gate.js';

/** etcd's limit of a response before it is fragmented: --max-request-bytes plus gRPC overhead. */
export const DEFAULT_MAX_WATCH_RESPONSE_BYTES = DEFAULT_MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;

/** What the Watch service needs from the node. */
export interface WatchNode {
  accepting(): boolean;
  /** The leader this member knows (0: none). */
  leaderId(): number;
  /** This member is a learner: it opens no watch stream (learner.ts). */
  isLearner?(): boolean;
  /**
   * While writes this member has answered are still being written to its state machine (and so
   * not yet in the hub): resolves once they are; undefined when there are none.
   */
  answeredWritesPending?(): Promise<void> | undefined;
}

export interface WatchServiceOptions {
  hub: WatchHub;
  node: WatchNode;
  /** The response header of this member (header.ts); the revision is always given. */
  header: HeaderFiller;
  /** Ends the streams that require a leader when this member has had none for a while. */
  leaderMonitor: LeaderMonitor;
  /** A response larger than this is fragmented for watchers that allow it. */
  maxResponseBytes?: number;
  log?: Logger;
  metrics?: Metrics;
}

export interface WatchService {
  /** Open Watch calls. */
  readonly size: number;
  /** Graceful stop: every stream ends with Unavailable "etcdserver: server stopped". */
  closeAll(): void;
}

/** Why a create choosing a watch id this server cannot represent is refused. */
export const WATCH_ID_RANGE = `watch ID is outside 0..${Number.MAX_SAFE_INTEGER - 1} (2^53-2), the ids this server supports; give 0 to let the server choose`;

type Call = grpc.ServerDuplexStream<Maybe<WatchRequest>, Buffer>;

/** The grpc-js definition: requests decoded tolerantly (a malformed one is reported, not thrown), responses pre-encoded. */
const WATCH_DEFINITION: grpc.ServiceDefinition = tolerant({
  watch: {
    path: '/etcdserverpb.Watch/Watch',
    requestStream: true,
    responseStream: true,
    requestSerialize: (v: WatchRequest) => Buffer.from(WatchRequest.encode(v).finish()),
    // Beyond-2^53 values read as ±(2^53-1) (wire.ts): a start revision that far is one that never
    // comes, a cancel of such an id names no watch; a create choosing such an id is refused below.
    requestDeserialize: (b: Buffer): WatchRequest => decodeClamped(WatchRequest, b),
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
});

/** etcd's ErrAuthOldRevision (a token checked against an auth state that moved on). */
const ETCD_AUTH_OLD_REVISION = 'etcdserver: revision of auth store is old';

/**
 * etcd 3.4's cancel_reason for a refused watch: the text of its gRPC error, "rpc error: code = …
 * desc = …" (etcdctl prints it as is). Any refusal but these three reads as permission denied.
 */
export function watchCancelReason(authMessage: string): string {
  if (authMessage === AUTH_ERR.invalidAuthToken) return `rpc error: code = Unauthenticated desc = ${authMessage}`;
  if (authMessage === AUTH_ERR.userEmpty) return `rpc error: code = InvalidArgument desc = ${authMessage}`;
  if (authMessage === ETCD_AUTH_OLD_REVISION) return `rpc error: code = InvalidArgument desc = ${authMessage}`;
  return `rpc error: code = PermissionDenied desc = ${AUTH_ERR.permissionDenied}`;
}

const unavailable = (message: string): grpc.ServiceError => serviceError(grpc.status.UNAVAILABLE, message);

export function registerWatch(server: grpc.Server, opts: WatchServiceOptions): WatchService {
  const calls = new Set<WatchCall>();
  const header = (revision: number): WireHeader => opts.header(revision);
  const maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_WATCH_RESPONSE_BYTES;
  const handlers = {
    watch: (call: Call) => {
      const requireLeader = requiresLeader(call.metadata);
      if (!opts.node.accepting()) {
        call.emit('error', unavailable(ETCD_STOPPED));
        return;
      }
      if (opts.node.isLearner?.()) {
        call.emit('error', learnerRefusal());
        return;
      }
      if (requireLeader && opts.node.leaderId() === 0) {
        call.emit('error', noLeader());
        return;
      }
      let unmonitor: (() => void) | undefined;
      const c = new WatchCall(call, opts.hub, opts.node, header, maxBytes, () => {
        calls.delete(c);
        unmonitor?.();
      }, opts.log);
      calls.add(c);
      if (requireLeader) unmonitor = opts.leaderMonitor.add((err) => c.fail(err));
    },
  };
  server.addService(WATCH_DEFINITION, opts.metrics ? instrumentGrpcService('etcdserverpb.Watch', handlers, opts.metrics, WATCH_DEFINITION) : handlers);
  return {
    get size() {
      return calls.size;
    },
    closeAll() {
      for (const c of [...calls]) c.fail(unavailable(ETCD_STOPPED));
    },
  };
}

/**
 * Responses a call has handed to HTTP/2 and that are not written yet (those handed over in one
 * turn leave together: src/grpc/stream-writer.ts). While this many wait, a watcher's next batches
 * wait here and are merged into one response, so a busy stream sends fewer, larger responses
 * (etcd's watch stream does the same with its bounded channel) instead of queueing one small
 * response per watcher per batch.
 */
const MAX_IN_FLIGHT = 16;

/**
 * Control responses (created, canceled, progress) waiting for room plus requests waiting to be
 * handled, at which the call stops reading its client until they are down to half. A client that
 * sends requests without reading the answers then stops at HTTP/2 flow control, as etcd's stops
 * when its stream's control channel is full, instead of making this member queue an answer for
 * each. Watchers' events are bounded by the hub, not here.
 */
export const WATCH_READ_PAUSE_AT = 256;

/** A watcher's events waiting for the call: whole batches in order, the last one's revision. */
interface PendingEvents {
  w: Watcher;
  lists: (readonly KeyEvent[])[];
  revision: number;
  dones: (() => void)[];
}
type QueueItem = PendingEvents | Buffer;

/** Each batch's encoded events, per list handed over: the hub hands one list to every watcher of a range. */
const encodedPlain = new WeakMap<readonly KeyEvent[], Buffer>();
const encodedWithPrev = new WeakMap<readonly KeyEvent[], Buffer>();

function eventBytes(list: readonly KeyEvent[], prevKv: boolean): Buffer {
  const cache = prevKv ? encodedWithPrev : encodedPlain;
  let b = cache.get(list);
  if (b === undefined) {
    b = encodeEvents(list.map((e) => ({ isDelete: e.isDelete, kv: e.kv, prevKv: prevKv ? e.prevKv : null })));
    cache.set(list, b);
  }
  return b;
}

/** One Watch call: requests in, responses out, its watchers in the hub. */
class WatchCall implements WatchSink {
  private readonly stream: HubStream;
  private ended = false;
  /** The client closed its side: the stream ends once no watcher is left (endIfDone). */
  private halfClosed = false;
  /** Ending waits for the responses queued before it (a cancel's answer among them). */
  private endWhenFlushed = false;
  /** Responses handed to the call whose bytes have not left yet. */
  private inFlight = 0;
  /** Waiting for room, in order: watchers' events (merged while they wait) and control responses. */
  private queue: QueueItem[] = [];
  private queueHead = 0;
  /** The queued events of a watcher that later batches may join (no control response behind them). */
  private readonly mergeable = new Map<Watcher, PendingEvents>();
  /** A revision's responses to this stream's watchers leave together (src/grpc/stream-writer.ts). */
  private readonly send: MessageWriter<Buffer>;

  /** Requests not handled yet: they wait, in order, for the writes answered before they came. */
  private readonly queued: Maybe<WatchRequest>[] = [];
  /** Control responses in `queue` and requests in `queued`: the client is not read while too many wait. */
  private readonly waiting: ReadGate;

  constructor(
    private readonly call: Call,
    private readonly hub: WatchHub,
    private readonly node: WatchNode,
    private readonly header: (revision: number) => WireHeader,
    private readonly maxBytes: number,
    private readonly onEnd: () => void,
    private readonly log?: Logger,
  ) {
    this.send = messageWriter(call);
    this.waiting = new ReadGate(call, WATCH_READ_PAUSE_AT);
    this.stream = hub.openStream(this);
    call.on('data', (req: Maybe<WatchRequest>) => this.onRequest(req));
    // The client is done sending: as with etcd, its watchers keep streaming (grpcurl and the JSON
    // gateway send a create and then close their side). Once it has none left, nothing can come
    // on the stream any more, and it ends (etcd would hold it until the client cancels).
    call.on('end', () => {
      this.halfClosed = true;
      this.endIfDone();
    });
    call.on('error', () => this.finish());
    call.on('cancelled', () => this.finish());
    call.on('close', () => this.finish());
  }

  /**
   * A member answers a write before its batch is written to the state machine, and the hub learns
   * of a revision after that (src/node/node.ts, apply). A request is handled once the writes
   * answered before it arrived are in the hub, as reads wait for them: a progress notification
   * then covers every write its caller saw acknowledged, and a watch created from the current
   * revision starts after them, as with etcd, which answers a write after applying it.
   */
  private onRequest(req: Maybe<WatchRequest>): void {
    if (this.ended) return;
    this.queued.push(req);
    this.waiting.add();
    if (this.queued.length === 1) this.drain();
  }

  private drain(): void {
    while (this.queued.length > 0 && !this.ended) {
      const pending = this.node.answeredWritesPending?.();
      if (pending) {
        pending.then(
          () => this.drain(),
          () => this.drain(),
        );
        return;
      }
      this.handle(this.queued.shift()!);
      this.waiting.done();
    }
    this.endIfDone();
  }

  /** Ends a half-closed stream with no watcher and no request waiting, after what it queued. */
  private endIfDone(): void {
    if (!this.halfClosed || this.ended || this.queued.length > 0 || this.stream.watchers.size > 0) return;
    if (this.queueHead === this.queue.length) this.end();
    else this.endWhenFlushed = true;
  }

  private handle(req: Maybe<WatchRequest>): void {
    const bad = malformedReason(req);
    if (bad !== undefined) {
      this.fail(serviceError(grpc.status.INVALID_ARGUMENT, `malformed watch request: ${bad}`));
      return;
    }
    const u = (req as WatchRequest).requestUnion;
    switch (u?.$case) {
      case 'createRequest': {
        const refused = watchCreateRefusal(req as WatchRequest);
        if (refused !== undefined) this.refuse(refused);
        else this.create(u.value);
        break;
      }
      case 'cancelRequest': {
        const id = u.value.watchId;
        if (this.stream.cancel(id)) this.control({ header: this.header(this.hub.revision), watchId: id, canceled: true });
        break;
      }
      case 'progressRequest':
        this.stream.requestProgress();
        break;
      default:
      // etcd ignores a request without a known union member rather than ending the stream.
    }
  }

  /** A create the caller may not make: that watch alone is answered, as etcd does. */
  private refuse(authMessage: string): void {
    this.control({ header: this.header(this.hub.revision), watchId: -1, created: true, canceled: true, cancelReason: watchCancelReason(authMessage) });
  }

  private create(req: WatchCreateRequest): void {
    const key = req.key.length === 0 ? '\u0000' : Buffer.from(req.key).toString('latin1');
    const end = req.rangeEnd;
    const single = end.length === 0;
    const spec: WatchSpec = {
      from: key,
      to: single || (end.length === 1 && end[0] === 0) ? undefined : Buffer.from(end).toString('latin1'),
      single,
      startRevision: req.startRevision,
      prevKv: req.prevKv,
      noPut: req.filters.includes(Filter.NOPUT),
      noDelete: req.filters.includes(Filter.NODELETE),
      progressNotify: req.progressNotify,
      fragment: req.fragment,
    };
    const rev = this.hub.revision;
    if (req.watchId >= Number.MAX_SAFE_INTEGER) {
      // The id was clamped (or is 2^53-1): answering with another id than the client chose
      // would leave its watch unmatched, so this watch alone is refused (etcd would take it).
      this.control({ header: this.header(rev), watchId: -1, created: true, canceled: true, cancelReason: WATCH_ID_RANGE });
      return;
    }
    const r = this.stream.watch(req.watchId, spec);
    if ('error' in r) this.control({ header: this.header(rev), watchId: -1, created: true, canceled: true, cancelReason: r.error });
    else this.control({ header: this.header(rev), watchId: r.id, created: true });
  }

  // ---------------------------------------------------------------- WatchSink

  events(w: Watcher, events: readonly KeyEvent[], revision: number, done: () => void): void {
    if (this.ended) return;
    if (this.idle()) {
      this.sendEvents({ w, lists: [events], revision, dones: [done] });
      return;
    }
    // The stream is busy: the batch joins what waits for this watcher (one response for both),
    // unless a control response was queued after that, which must not be overtaken.
    const p = this.mergeable.get(w);
    if (p) {
      p.lists.push(events);
      p.revision = revision;
      p.dones.push(done);
      return;
    }
    const fresh: PendingEvents = { w, lists: [events], revision, dones: [done] };
    this.queue.push(fresh);
    this.mergeable.set(w, fresh);
  }

  /** Writes one watcher's waiting events: one response, or several when they exceed the limit. */
  private sendEvents(p: PendingEvents): void {
    const { w, lists, revision, dones } = p;
    const done = dones.length === 1 ? dones[0]! : () => { for (const d of dones) d(); };
    // The common case: every batch encoded once for all the watchers it was handed to.
    const sections = lists.map((l) => eventBytes(l, w.prevKv));
    let size = 0;
    for (const s of sections) size += s.length;
    if (size + 64 <= this.maxBytes) {
      this.write(encodeSplicedEvents(this.header(revision), w.id, sections), done);
      return;
    }
    const out = this.packed(w, lists.length === 1 ? lists[0]! : lists.flat(), revision);
    for (let i = 0; i < out.length; i++) this.write(out[i]!, i === out.length - 1 ? done : undefined);
  }

  /** Events larger than one response: whole revisions packed into responses of at most maxBytes. */
  private packed(w: Watcher, events: readonly KeyEvent[], revision: number): Buffer[] {
    const wire: WireEvent[] = events.map((e) => ({ isDelete: e.isDelete, kv: e.kv, prevKv: w.prevKv ? e.prevKv : null }));
    const base: WireResponse = { header: this.header(revision), watchId: w.id };
    const baseSize = wireBaseSize(base);
    // Pack whole revisions into responses of at most maxBytes (a revision larger than that goes
    // alone, fragmented if the watcher allows it).
    const out: Buffer[] = [];
    let start = 0;
    while (start < wire.length) {
      let end = start;
      let size = baseSize;
      while (end < wire.length) {
        let groupEnd = end + 1;
        let groupSize = wireEventSize(wire[end]!);
        while (groupEnd < wire.length && events[groupEnd]!.rev === events[end]!.rev) groupSize += wireEventSize(wire[groupEnd++]!);
        if (end > start && size + groupSize > this.maxBytes) break;
        size += groupSize;
        end = groupEnd;
      }
      const last = end === wire.length;
      const h = last ? base.header : this.header(events[end - 1]!.rev);
      const slice = wire.slice(start, end);
      if (w.fragment && size > this.maxBytes && slice.length > 1) out.push(...this.fragments(h, w.id, slice));
      else out.push(encodeWatchResponse({ header: h, watchId: w.id, events: slice }));
      start = end;
    }
    return out;
  }

  /** etcd's sendFragments: events added until the response reaches the limit; all but the last flagged. */
  private fragments(header: WireHeader, watchId: number, events: WireEvent[]): Buffer[] {
    const out: Buffer[] = [];
    const baseSize = wireBaseSize({ header, watchId, fragment: true });
    let i = 0;
    while (i < events.length) {
      let size = baseSize;
      let j = i;
      while (j < events.length) {
        const s = wireEventSize(events[j]!);
        if (j > i && size + s >= this.maxBytes) break;
        size += s;
        j++;
      }
      out.push(encodeWatchResponse({ header, watchId, fragment: j < events.length, events: events.slice(i, j) }));
      i = j;
    }
    return out;
  }

  compacted(w: Watcher, compactRevision: number): void {
    // etcd 3.4 answers a compaction with header revision 0 (the filler would put the current one).
    this.control({ header: { ...this.header(this.hub.revision), revision: 0 }, watchId: w.id, canceled: true, compactRevision });
    this.endIfDone();
  }

  progress(watchId: number, revision: number): void {
    this.control({ header: this.header(revision), watchId });
  }

  // ---------------------------------------------------------------- the call

  /** Nothing waits and the call has room: a response can go right away. */
  private idle(): boolean {
    return this.queueHead === this.queue.length && this.inFlight < MAX_IN_FLIGHT;
  }

  /** A response that is not a watcher's events (created, canceled, progress): in order with them. */
  private control(r: WireResponse): void {
    if (this.ended) return;
    const bytes = encodeWatchResponse(r);
    if (this.idle()) this.write(bytes);
    else {
      this.queue.push(bytes);
      this.waiting.add();
      // Events queued before it stay before it: later batches get a response of their own.
      this.mergeable.clear();
    }
  }

  /** Hands queued responses to the call while it has room. */
  private pump(): void {
    while (!this.ended && this.inFlight < MAX_IN_FLIGHT && this.queueHead < this.queue.length) {
      const item = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as QueueItem;
      if (Buffer.isBuffer(item)) {
        this.waiting.done();
        this.write(item);
      } else {
        if (this.mergeable.get(item.w) === item) this.mergeable.delete(item.w);
        this.sendEvents(item);
      }
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
      if (this.endWhenFlushed) this.end();
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private write(bytes: Buffer, done?: () => void): void {
    if (this.ended) return;
    this.inFlight++;
    try {
      this.send(bytes, () => {
        this.inFlight--;
        done?.();
        this.pump();
      });
    } catch (err) {
      this.log?.debug({ err: (err as Error).message }, 'watch: write on a closed stream');
      this.finish();
    }
  }

  /** Ends the call with an error status (the client resumes elsewhere on Unavailable). */
  fail(err: grpc.ServiceError): void {
    if (this.ended) return;
    this.finish();
    this.call.emit('error', err);
  }

  private end(): void {
    if (this.ended) return;
    this.finish();
    this.call.end();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.close();
    this.onEnd();
  }
}
