// The one command line that replays a simulation run exactly.
import type { SimResult } from './cluster.js';

export function replayCommand(r: Pick<SimResult, 'seed' | 'steps' | 'nodes' | 'bug'>): string {
  return `npm run sim -- --seeds 1 --start ${r.seed} --steps ${r.steps} --nodes ${r.nodes}${r.bug ? ` --bug ${r.bug}` : ''}`;
}
