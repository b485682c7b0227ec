// The watch hub of a running node: fed by the node's apply path (one listener), reading history
// from whatever state machine the node has now (a rebuild replaces it), bounded by the node's
// configuration, counted in its metrics.
import type { NodeConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ApplyListener } from '../node/node.js';
import type { StateMachine } from '../../storage/index.js';
import { WatchHub, type EventSource } from './hub.js';
import { WatchMetrics } from './metrics.js';

/** What the hub needs from the node (PlacementNode provides it). */
export interface WatchHubHost {
  /** The current state machine (a rebuild replaces it). */
  readonly keyspace: StateMachine;
  setApplyListener(l: ApplyListener | null): void;
}

export function startWatchHub(node: WatchHubHost, cfg: NodeConfig, metrics?: Metrics, log?: Logger): WatchHub {
  const source: EventSource = {
    get revision() {
      return node.keyspace.revision;
    },
    get compactRevision() {
      return node.keyspace.compactRevision;
    },
    eventRecords: (req) => node.keyspace.eventRecords(req),
    eventRecordSync: (main, sub) => node.keyspace.eventRecordSync(main, sub),
  };
  const observer = metrics ? new WatchMetrics(metrics.registry) : undefined;
  const hub = new WatchHub(source, {
    maxPendingEvents: cfg.watchMaxPendingEvents,
    maxPendingBytes: cfg.watchMaxPendingBytes,
    streamMaxPendingBytes: cfg.watchStreamMaxPendingBytes,
    totalMaxPendingBytes: cfg.watchTotalMaxPendingBytes,
    progressNotifyMs: cfg.watchProgressNotifyMs,
    observer,
    onError: (err) => log?.warn({ err: err.message }, 'watch: catching watchers up failed; retrying'),
  });
  observer?.bind(hub);
  node.setApplyListener(hub);
  return hub;
}
