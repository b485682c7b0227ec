// One compaction of the keyspace as every surface asks for it (etcd's Compact, the admin API,
// placement-ctl, the auto-compactor): an etcd Compaction command through Raft, and with
// `physical`, the wait until this member has removed the history (as etcd's physical flag).
import type { Command, CommandResult, CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { StateMachine } from '../../storage/index.js';
import { PlacementError } from '../errors.js';
import { answerResult } from '../results.js';

export interface CompactionHost {
  readonly keyspace: StateMachine;
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
}

export function compactionCommand(revision: number, physical = false): Command {
  return { clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'etcdCompaction', value: { revision, physical } } };
}

/**
 * Compacts the history below `revision`. Resolves with this member's revision and compact
 * revision; a compacted or future revision throws etcd's error (OUT_OF_RANGE). `by`: the caller
 * of the request (src/auth/context.ts), undefined for the auto-compactor.
 */
export async function compactKeyspace(
  host: CompactionHost,
  revision: number,
  physical: boolean,
  deadline: number,
  by: CommandCaller | undefined,
): Promise<{ revision: number; compactRevision: number }> {
  answerResult(await host.propose(compactionCommand(revision, physical), deadline, by));
  if (physical) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        host.keyspace.waitCompaction(revision),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new PlacementError('DEADLINE_EXCEEDED', `compacted at ${revision}; removing the history did not finish in time`)), Math.max(0, deadline - Date.now()));
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
  return { revision: host.keyspace.revision, compactRevision: Math.max(host.keyspace.compactRevision, revision) };
}
