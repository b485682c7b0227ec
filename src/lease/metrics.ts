// Lease instruments, registered in the node's registry (src/metrics/metrics.ts owns it). Counted
// where the event happens once: grants, revokes and keep-alives by the member that served the
// request, expiries by the leader that decided them, so a sum over members is the cluster's.

import { Counter, Gauge, type Registry } from 'prom-client';

export interface LeaseGauges {
  /** Leases in this member's table. */
  count(): number;
  /** Seconds until the nearest lease deadline (the leader's, grace included; else the replicated expiry); undefined when none. */
  nearestExpirySeconds(): number | undefined;
}

export class LeaseMetrics {
  readonly granted: Counter;
  readonly revoked: Counter;
  readonly expired: Counter;
  readonly keepAlives: Counter;
  readonly renewalCommands: Counter;
  private gauges: LeaseGauges | null = null;

  constructor(registry: Registry, prefix = 'placement_') {
    const registers = [registry];
    const self = this;
    this.granted = new Counter({ name: `${prefix}lease_granted_total`, help: 'Leases granted through this member.', registers });
    this.revoked = new Counter({ name: `${prefix}lease_revoked_total`, help: 'Leases revoked through this member.', registers });
    this.expired = new Counter({ name: `${prefix}lease_expired_total`, help: 'Leases this member ended as leader because they expired.', registers });
    this.keepAlives = new Counter({ name: `${prefix}lease_keepalives_total`, help: 'Keep-alives answered by this member (each covered by a committed renewal).', registers });
    this.renewalCommands = new Counter({
      name: `${prefix}lease_renewal_commands_total`,
      help: 'Renewal commands this member proposed (each carries every keep-alive of one batching window).',
      registers,
    });
    new Gauge({
      name: `${prefix}leases`,
      help: 'Leases that exist, as this member has applied them.',
      registers,
      collect() {
        if (self.gauges) this.set(self.gauges.count());
      },
    });
    new Gauge({
      name: `${prefix}lease_nearest_expiry_seconds`,
      help: 'Seconds until the nearest lease ends (on the leader: its deadline, grace included); absent when there is no lease.',
      registers,
      collect() {
        this.reset();
        const s = self.gauges?.nearestExpirySeconds();
        if (s !== undefined) this.set(s);
      },
    });
  }

  bind(gauges: LeaseGauges): void {
    this.gauges = gauges;
  }
}
