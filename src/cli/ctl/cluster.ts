// placement-ctl cluster status | member list
//
// `cluster status` asks every member for its own view, at the address the member advertises. A
// client outside the members' network (the host of a Compose cluster, whose members advertise
// service names) may not reach those addresses; a member that answered at one of --endpoints is
// then shown as reached through it. Exit code 7 when the cluster is not healthy: a member that
// could not be reached at all, or no leader.
import type { Command } from 'commander';
import type { ClusterStatus, Member, MembershipChangeResult, PlacementClient } from '../../client/index.js';
import { EXIT } from './exit-codes.js';
import { out, printJson, println, table } from './output.js';
import { parseEndpoints, parsePositiveInt, withClient } from './program.js';

interface Row {
  id: number;
  /** The address the member advertises (its gRPC address in the membership). */
  address: string;
  /** This client reached the member at its advertised address. */
  reachableAtAddress: boolean;
  /** The endpoint its status came from (the advertised address, or one of --endpoints); null when not reached. */
  reachedVia: string | null;
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

type Probe = { st: ClusterStatus; error?: undefined } | { st?: undefined; error: string };

/** Each address's own status, one attempt each, all at once. */
async function probeAll(client: PlacementClient, addresses: readonly string[], deadlineMs: number): Promise<Map<string, Probe>> {
  const unique = [...new Set(addresses)];
  const probes = await Promise.all(
    unique.map(async (a): Promise<Probe> => {
      try {
        return { st: await client.cluster.status({ endpoint: a, deadlineMs }) };
      } catch (e) {
        return { error: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
  return new Map(unique.map((a, i) => [a, probes[i]!]));
}

/** The short reason of a failed probe ("name not resolved"), without the "cannot reach any of X:" prefix. */
function reason(error: string): string {
  const m = /^cannot reach any of [^:]+:\d+: (.*)$/.exec(error);
  return m ? m[1]! : error;
}

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('cluster state');

  cluster
    .command('status')
    .description(
      "every member's own view: id, advertised address, whether this client reached it, role, term, commit, applied, lag (leader marked *); " +
        'exit code 7 when a member is unreachable or there is no leader',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const members = await client.cluster.members();
        const given = parseEndpoints(g.endpoints);
        const perMember = Math.min(g.timeout, 2000);
        const probes = await probeAll(client, [...members.members.map((m) => m.address), ...given], perMember);
        // Which member answered at each of --endpoints (the way in when advertised addresses are not reachable).
        const viaGiven = new Map<number, { endpoint: string; st: ClusterStatus }>();
        for (const e of given) {
          const st = probes.get(e)?.st;
          if (st && !viaGiven.has(st.id)) viaGiven.set(st.id, { endpoint: e, st });
        }
        const answers = members.members.map((m: Member) => {
          const direct = probes.get(m.address)!;
          // A direct answer from another member (an address reused by a replaced member) does not count.
          if (direct.st && direct.st.id === m.id) return { m, st: direct.st, via: m.address, direct: true, error: undefined };
          const other = viaGiven.get(m.id);
          const error = direct.error ?? `${m.address} answered as member ${direct.st!.id}`;
          if (other) return { m, st: other.st, via: other.endpoint, direct: false, error };
          return { m, st: undefined, via: null, direct: false, error };
        });
        const leaderSt = answers.find((r) => r.st?.role === 'leader')?.st;
        const leaderId = leaderSt?.id ?? 0;
        const rows: Row[] = answers.map(({ m, st, via, direct, error }) => {
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
            reachableAtAddress: direct,
            reachedVia: via,
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
        const problems: string[] = [];
        for (const r of rows) if (!r.reachable) problems.push(`member ${r.id} (${r.address}) unreachable: ${reason(r.error ?? 'no answer')}`);
        if (leaderId === 0) problems.push('no leader');
        const healthy = problems.length === 0;
        if (!healthy) process.exitCode = EXIT.UNHEALTHY;
        if (g.json) {
          printJson({ clusterId: leaderSt?.clusterId ?? members.clusterId, leaderId, healthy, problems, members: rows });
          return;
        }
        const c = out.stdout;
        const dash = (v: number | null): string => (v === null ? '-' : String(v));
        println(
          table(
            ['ID', 'ADDRESS', 'REACHABLE', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'LEADER'],
            rows.map((r) => [
              r.id,
              r.address,
              r.reachableAtAddress ? 'yes' : r.reachable ? `via ${r.reachedVia}` : c.red('no'),
              r.reachable ? (r.isLeader ? c.green(r.role) : r.role) : c.red(r.role),
              dash(r.term),
              dash(r.commitIndex),
              dash(r.appliedIndex),
              dash(r.lag),
              r.isLeader ? '*' : '',
            ]),
          ),
        );
        const e = out.stderr;
        for (const r of rows) {
          if (r.reachable && !r.reachableAtAddress) {
            process.stderr.write(
              `${e.yellow('note:')} member ${r.id} advertises ${r.address}, which this client cannot reach (${reason(r.error ?? '')}); its status came through ${r.reachedVia}\n`,
            );
          }
        }
        if (!healthy) process.stderr.write(`${e.red('cluster is not healthy:')} ${problems.join('; ')}\n`);
      });
    });

  const member = program.command('member').description('cluster membership: list, add, remove, promote (one change at a time, carried out by the leader)');
  member
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

  const printChange = (g: { json: boolean }, r: MembershipChangeResult, what: string): void => {
    if (g.json) {
      printJson({ clusterId: r.clusterId, leaderId: r.leaderId, memberId: r.memberId, members: [...r.members].sort((a, b) => a.id - b.id) });
      return;
    }
    println(what);
    println(table(['ID', 'ADDRESS', 'ROLE', 'LEADER'], [...r.members].sort((a, b) => a.id - b.id).map((m) => [m.id, m.address, m.role, m.id === r.leaderId ? '*' : ''])));
  };
  member
    .command('add')
    .description("add a member at ADDRESS (its gRPC host:port); prints its id: start it with placement-center --id <id> --join --peers <every member, itself included> ...")
    .argument('<address>', "the new member's gRPC address, host:port")
    .option('--learner', 'join as a learner (no vote until `member promote`); the safe way to grow a cluster', false)
    .option('--id <n>', 'the id to give it (default: the leader picks one never used in this cluster)', parsePositiveInt)
    .action(async (address: string, opts: { learner: boolean; id?: number }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.cluster.memberAdd(address, { isLearner: opts.learner, id: opts.id, deadlineMs: g.timeout });
        printChange(g, r, `Member ${r.memberId} added${opts.learner ? ' as a learner' : ''} at ${address}. Start it with: placement-center --id ${r.memberId} --join --listen ${address} --peers ${[...r.members].sort((a, b) => a.id - b.id).map((m) => `${m.id}=${m.address}`).join(',')} --data-dir <empty dir> ...`);
      });
    });
  member
    .command('remove')
    .description('remove member ID (the leader too: it hands over leadership once the change commits); the removed member shuts down')
    .argument('<id>', 'member id', parsePositiveInt)
    .action(async (id: number, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        printChange(g, await client.cluster.memberRemove(id, { deadlineMs: g.timeout }), `Member ${id} removed.`);
      });
    });
  member
    .command('promote')
    .description('promote learner ID to voter (refused until it has caught up with the leader)')
    .argument('<id>', 'member id', parsePositiveInt)
    .action(async (id: number, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        printChange(g, await client.cluster.memberPromote(id, { deadlineMs: g.timeout }), `Member ${id} promoted to voter.`);
      });
    });
  member
    .command('update')
    .description("move member ID to a new gRPC address (etcd's member update): every member dials it there from then on; restart it with --listen ADDRESS")
    .argument('<id>', 'member id', parsePositiveInt)
    .argument('<address>', "the member's new gRPC address, host:port")
    .action(async (id: number, address: string, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        printChange(g, await client.cluster.memberUpdate(id, address, { deadlineMs: g.timeout }), `Member ${id} updated: its address is now ${address}. Restart it with --listen ${address}.`);
      });
    });
  program
    .command('move-leader')
    .description('hand leadership to voter ID; returns once it leads')
    .argument('<id>', 'member id', parsePositiveInt)
    .action(async (id: number, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        printChange(g, await client.cluster.moveLeader(id, { deadlineMs: g.timeout }), `Leadership moved to member ${id}.`);
      });
    });
}
