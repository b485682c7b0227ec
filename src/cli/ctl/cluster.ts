// placement-ctl cluster status | member list
import type { Command } from 'commander';
import type { ClusterStatus, Member } from '../../client/index.js';
import { out, printJson, println, table } from './output.js';
import { withClient } from './program.js';

interface Row {
  id: number;
  address: string;
  reachable: boolean;
  role: string;
  isLeader: boolean;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  lastIndex: number | null;
  lag: number | null;
  error?: string;
}

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('cluster state');

  cluster
    .command('status')
    .description("every member's own view: id, address, role, term, commit, applied, lag (leader marked *)")
    .action(async (_opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const members = await client.cluster.members();
        // Ask every member for its own status, each with one attempt.
        const perMember = Math.min(g.timeout, 2000);
        const results = await Promise.all(
          members.members.map(async (m): Promise<{ m: Member; st?: ClusterStatus; error?: string }> => {
            try {
              return { m, st: await client.cluster.status({ endpoint: m.address, deadlineMs: perMember }) };
            } catch (e) {
              return { m, error: e instanceof Error ? e.message : String(e) };
            }
          }),
        );
        const leaderSt = results.find((r) => r.st?.role === 'leader')?.st;
        const leaderId = leaderSt?.id ?? members.leaderId;
        const rows: Row[] = results.map(({ m, st, error }) => {
          const view = leaderSt?.members.find((x) => x.id === m.id);
          let lag: number | null = null;
          if (st && leaderSt) {
            if (st.id === leaderSt.id) lag = 0;
            else if (view && view.matchIndex > 0) lag = view.lag;
            else lag = Math.max(0, leaderSt.lastIndex - st.lastIndex);
          }
          return {
            id: m.id,
            address: m.address,
            reachable: st !== undefined,
            role: st ? st.role : 'unreachable',
            isLeader: m.id === leaderId && leaderId !== 0,
            term: st?.term ?? null,
            commitIndex: st?.commitIndex ?? null,
            appliedIndex: st?.appliedIndex ?? null,
            lastIndex: st?.lastIndex ?? null,
            lag,
            ...(error !== undefined ? { error } : {}),
          };
        });
        rows.sort((a, b) => a.id - b.id);
        if (g.json) {
          printJson({ clusterId: leaderSt?.clusterId ?? members.clusterId, leaderId, members: rows });
          return;
        }
        const c = out.stdout;
        const dash = (v: number | null): string => (v === null ? '-' : String(v));
        println(
          table(
            ['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'LEADER'],
            rows.map((r) => [
              r.id,
              r.address,
              r.reachable ? (r.isLeader ? c.green(r.role) : r.role) : c.red(r.role),
              dash(r.term),
              dash(r.commitIndex),
              dash(r.appliedIndex),
              dash(r.lag),
              r.isLeader ? '*' : '',
            ]),
          ),
        );
        if (leaderId === 0) process.stderr.write(`${out.stderr.yellow('warning:')} no leader is known\n`);
        for (const r of rows) {
          if (r.error !== undefined) process.stderr.write(`${out.stderr.yellow('warning:')} member ${r.id}: ${r.error}\n`);
        }
      });
    });

  program
    .command('member')
    .description('cluster membership')
    .command('list')
    .description('members with their gRPC and HTTP addresses (leader marked *)')
    .action(async (_opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.cluster.members();
        const members = [...r.members].sort((a, b) => a.id - b.id);
        if (g.json) {
          printJson({ clusterId: r.clusterId, leaderId: r.leaderId, members });
          return;
        }
        println(
          table(
            ['ID', 'ADDRESS', 'HTTP', 'ROLE', 'LEADER'],
            members.map((m) => [m.id, m.address, m.httpAddress || '-', m.role, m.isLeader || m.id === r.leaderId ? '*' : '']),
          ),
        );
      });
    });
}
