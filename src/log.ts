// Structured logging (pino, JSON lines). Every line carries the node id and, through a mixin,
// the current Raft term and role, so a merged log of a cluster can be read in order of terms.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface RaftView {
  term: number;
  role: string;
}

/** Creates the process logger; `view` is read on every line (cheap: two fields). */
export function createLogger(opts: { nodeId: number; level: LevelWithSilent; view?: () => RaftView; destination?: number }): Logger {
  const view = opts.view;
  return pino(
    {
      level: opts.level,
      base: { node: opts.nodeId, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: view ? () => view() : undefined,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: opts.destination ?? 1, sync: true }),
  );
}
