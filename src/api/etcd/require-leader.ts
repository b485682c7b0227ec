// etcd's "require a leader" contract (v3rpc's interceptors and monitorLeader). A call carrying
// metadata hasleader=true (clientv3.WithRequireLeader; clientv3 opens every lease keep-alive
// stream that way, Kubernetes its watches) asks a member that knows no leader to refuse at once
// with Unavailable "etcdserver: no leader", rather than answer from a state that may be stale or
// wait for a leader it may be cut off from. A stream carrying it is ended the same way once the
// member has had no leader for three election timeouts, so that the client reopens it on
// another member (a member cut off from the others keeps no lease alive and sends no events).
import * as grpc from '@grpc/grpc-js';
import { ETCD_NO_LEADER, serviceError } from './errors.js';

export const REQUIRE_LEADER_KEY = 'hasleader';

export function requiresLeader(md: grpc.Metadata): boolean {
  return md.get(REQUIRE_LEADER_KEY)[0] === 'true';
}

export function noLeader(): grpc.ServiceError {
  return serviceError(grpc.status.UNAVAILABLE, ETCD_NO_LEADER);
}

/** Ends the streams that require a leader once this member has had none for three election timeouts. */
export class LeaderMonitor {
  private readonly streams = new Set<(err: grpc.ServiceError) => void>();
  private leaderSeenAt = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly leaderId: () => number,
    electionTimeoutMs: number,
  ) {
    this.timer = setInterval(() => {
      if (this.leaderId() !== 0) {
        this.leaderSeenAt = Date.now();
        return;
      }
      if (Date.now() - this.leaderSeenAt < 3 * electionTimeoutMs) return;
      for (const end of [...this.streams]) end(noLeader());
    }, electionTimeoutMs);
    this.timer.unref();
  }

  /** Watches one stream until the returned function is called (when the stream ends). */
  add(end: (err: grpc.ServiceError) => void): () => void {
    this.streams.add(end);
    return () => this.streams.delete(end);
  }

  close(): void {
    clearInterval(this.timer);
    this.streams.clear();
  }
}
