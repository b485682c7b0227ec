// Client side of etcdserverpb.Lease/LeaseKeepAlive: one bidirectional stream per member carries
// the keep-alives of every lease and session of the client. The server answers each request once
// its renewal is committed, with the lease's TTL (0: the lease does not exist); answers for one
// lease come in the order of its requests, so waiters are queued per lease id.
//
// The stream is opened on first use and ended after a short idle period (a process that forgets
// close() still exits). A broken stream fails what is in flight with its status (the caller's
// retry loop moves on to another member); a keep-alive without an answer within its attempt
// timeout fails with DEADLINE_EXCEEDED.
import * as grpc from '@grpc/grpc-js';
import type { EtcdLeaseClient } from '../../proto/services.js';
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { Cancellable } from './session.js';

/** The stream is ended after this long without keep-alives in flight. */
const IDLE_MS = 1000;

export type KeepAliveCallback = (err: grpc.ServiceError | null, reply?: LeaseKeepAliveResponse) => void;

interface Waiter {
  cb: KeepAliveCallback;
  timer: NodeJS.Timeout;
}

function serviceError(code: grpc.status, details: string, metadata = new grpc.Metadata()): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code] ?? ''}: ${details}`), { code, details, metadata });
}

export class KeepAliveStream {
  private call: grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> | undefined;
  private readonly waiting = new Map<number, Waiter[]>();
  private inFlight = 0;
  private idle: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly stub: EtcdLeaseClient,
    /** Metadata the stream opens with (the auth token): the server judges the caller once, at open. */
    private readonly metadata: () => grpc.Metadata | undefined = () => undefined,
  ) {}

  /** One keep-alive of `id`; the callback gets the server's answer or the stream's failure. */
  keepAlive(id: number, timeoutMs: number, cb: KeepAliveCallback): Cancellable {
    if (this.closed) {
      cb(serviceError(grpc.status.CANCELLED, 'keep-alive stream closed'));
      return { cancel: () => undefined };
    }
    const call = this.open();
    let done = false;
    const waiter: Waiter = {
      cb: (err, reply) => {
        if (done) return;
        done = true;
        clearTimeout(waiter.timer);
        this.inFlight--;
        this.maybeIdle();
        cb(err, reply);
      },
      timer: setTimeout(() => {
        this.remove(id, waiter);
        waiter.cb(serviceError(grpc.status.DEADLINE_EXCEEDED, 'keep-alive not answered in time'));
      }, timeoutMs),
    };
    const q = this.waiting.get(id);
    if (q) q.push(waiter);
    else this.waiting.set(id, [waiter]);
    this.inFlight++;
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    call.write({ ID: id });
    return {
      cancel: () => {
        this.remove(id, waiter);
        waiter.cb(serviceError(grpc.status.CANCELLED, 'keep-alive cancelled'));
      },
    };
  }

  close(): void {
    this.closed = true;
    this.fail(serviceError(grpc.status.CANCELLED, 'keep-alive stream closed'));
  }

  private open(): grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
    if (this.call) return this.call;
    const call = this.stub.leaseKeepAlive(this.metadata() ?? new grpc.Metadata());
    this.call = call;
    call.on('data', (r: LeaseKeepAliveResponse) => {
      const q = this.waiting.get(r.ID);
      const w = q?.shift();
      if (q && q.length === 0) this.waiting.delete(r.ID);
      w?.cb(null, r);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call === call) this.fail(err);
    });
    call.on('end', () => {
      if (this.call === call) this.fail(serviceError(grpc.status.UNAVAILABLE, 'keep-alive stream ended by the server'));
    });
    return call;
  }

  private remove(id: number, w: Waiter): void {
    const q = this.waiting.get(id);
    if (!q) return;
    const i = q.indexOf(w);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.waiting.delete(id);
  }

  /** The stream is gone: every waiter fails with `err`; the next keep-alive opens another. */
  private fail(err: grpc.ServiceError): void {
    const call = this.call;
    this.call = undefined;
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    const all = [...this.waiting.values()].flat();
    this.waiting.clear();
    for (const w of all) w.cb(err);
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => undefined);
      call.cancel();
    }
  }

  private maybeIdle(): void {
    if (this.inFlight > 0 || !this.call || this.closed) return;
    this.idle = setTimeout(() => {
      this.idle = undefined;
      if (this.inFlight > 0 || !this.call) return;
      const call = this.call;
      this.call = undefined;
      call.removeAllListeners('data');
      call.on('error', () => undefined);
      call.end();
    }, IDLE_MS);
    this.idle.unref();
  }
}
