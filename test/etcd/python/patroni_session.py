"""One session of Patroni's etcd3 DCS (Debian's patroni, `patroni.dcs.etcd3.Etcd3`, unchanged; it
speaks etcd's JSON gateway) against the member at HOST:PORT, without PostgreSQL: two Patroni
"nodes", pg1 and pg2, make the DCS calls Patroni's HA loop makes (initialize, touch_member,
get_cluster, leader race, update_leader, config/failover/sync/history/status keys, watch, a leader
lease that expires, delete_cluster). Prints one line per step; test/etcd/patroni-diff.test.ts runs
it against etcd 3.4 and against us and compares the lines. Lease ids are printed only as "whose
lease it is"; revisions are printed relative to the one the session starts at."""
import datetime
import json
import logging
import sys
import threading
import time

from patroni.dcs.etcd3 import Etcd3, base64_decode, base64_encode, prefix_range_end

host, port = sys.argv[1], int(sys.argv[2])
# Patroni's own log (warnings and errors) goes to stderr, which is not compared.
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format='%(asctime)s %(name)s %(levelname)s: %(message)s')

TTL = 10
# loop_wait < ttl as Patroni requires: a lease is kept alive only when loop_wait has passed since
# its last refresh, so with loop_wait == ttl a lease could expire just as it is refreshed.
LOOP_WAIT = 5


def dcs(name):
    # The etcd3 section of patroni.yml as get_dcs() hands it to Etcd3 (it adds name, scope, ttl,
    # loop_wait and retry_timeout from the top level). use_proxies: talk to HOST:PORT only, never
    # to the other members' client URLs (a read on another member could lag: see `settle`).
    return Etcd3({'host': '{0}:{1}'.format(host, port), 'use_proxies': True, 'name': name, 'scope': 'pgdiff',
                  'namespace': '/service/', 'ttl': TTL, 'loop_wait': LOOP_WAIT, 'retry_timeout': 10})


def say(step, value):
    print(step + ': ' + json.dumps(value, sort_keys=True, default=str), flush=True)


def call(fn, *args, **kwargs):
    """What a DCS call returned, or the exception it raised (Patroni's own error classes)."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        return 'raised ' + type(e).__name__


try:
    pg1 = dcs('pg1')
    pg2 = dcs('pg2')
except Exception as e:  # Patroni refuses a server it does not take for etcd >= 3.0.4 (from GET /version)
    say('Etcd3() for pg1 and pg2', 'raised {0}: {1}'.format(type(e).__name__, e))
    sys.exit(0)
say('Etcd3() for pg1 and pg2', 'ok')
nodes = {'pg1': pg1, 'pg2': pg2}
prefix = pg1.client_path('')


def linearizable_range():
    """The cluster's keys as a linearizable read gives them (Patroni's own reads are serializable)."""
    return pg1._client.call_rpc('/kv/range', {'key': base64_encode(prefix), 'range_end': base64_encode(prefix_range_end(prefix))})


say('delete_cluster (a clean start)', call(pg1.delete_cluster))
BASE = int(linearizable_range()['header']['revision'])


def rel(revision):
    return None if revision in (None, '') else int(revision) - BASE


def settle():
    """Waits until both nodes' caches (Patroni's KVCache, fed by its /v3/watch stream) hold what a
    linearizable read of the cluster prefix returns, so that get_cluster() does not depend on
    how soon a watch event arrives. Prints nothing unless they never do."""
    want = None
    deadline = time.time() + 10
    while time.time() < deadline:
        want = {kv['key']: int(kv['mod_revision']) for kv in linearizable_range().get('kvs', [])}
        caches = []
        for node in (pg1, pg2):
            with node._client._kv_cache.condition:
                ready = node._client._kv_cache.is_ready()
            caches.append(ready and {kv['key']: int(kv['mod_revision']) for kv in node._client._kv_cache.copy()})
        if all(c == want for c in caches):
            return
        time.sleep(0.05)
    say('caches did not converge on', sorted(base64_decode(k) for k in want))


def loop(node):
    """What each turn of Patroni's HA loop starts with (the DCS calls that follow use its result)."""
    settle()
    node.get_cluster()


def in_thread(delay, fn, *args):
    """Runs fn after delay seconds in another thread; .result() waits for it and returns what it returned."""
    out = []
    t = threading.Timer(delay, lambda: out.append(call(fn, *args)))
    t.start()
    t.result = lambda: (t.join(), out[0])[1]
    return t


def member(m, owner):
    return {'name': m.name, 'index': rel(m.index), 'data': m.data, 'own lease': m.session == owner._lease}


def cluster(step, node):
    settle()
    c = call(node.get_cluster)
    if isinstance(c, str):
        return say(step, c)
    leader = c.leader and {'name': c.leader.name, 'index': rel(c.leader.index),
                           'lease is the leader node\'s': c.leader.session == nodes[c.leader.name]._lease}
    failover = None if c.failover is None else {
        'index': rel(c.failover.index), 'leader': c.failover.leader, 'candidate': c.failover.candidate,
        'scheduled_at': c.failover.scheduled_at and c.failover.scheduled_at.isoformat()}
    say(step, {
        'initialize': c.initialize,
        'config': c.config and {'index': rel(c.config.index), 'data': c.config.data},
        'leader': leader,
        'members': [member(m, nodes[m.name]) for m in sorted(c.members, key=lambda m: m.name)],
        'failover': failover,
        'sync': {'index': rel(c.sync.index), 'leader': c.sync.leader, 'sync_standby': c.sync.sync_standby},
        'history': c.history and {'index': rel(c.history.index), 'lines': c.history.lines},
        'last_lsn': c.last_lsn, 'slots': c.slots, 'failsafe': c.failsafe,
        'unlocked': c.is_unlocked(), 'min_version': c.min_version,
    })
    return c


def data(name, role, version):
    # pg2 says it is Patroni 2.0.2: with a member older than 2.1.0 in the cluster, the leader's
    # write_status also writes the legacy /optime/leader key.
    return {'conn_url': 'postgres://127.0.0.1:5432/postgres', 'api_url': 'http://127.0.0.1:8008/patroni',
            'state': 'running', 'role': role, 'version': version, 'xlog_location': 0, 'timeline': 1, 'name': name}


# Member discovery (/v3/cluster/member/list): how many client URLs, and whether ours is one.
machines = call(lambda: pg1._client.machines)
say('discovered client URLs', isinstance(machines, list) and [len(set(machines)), pg1._client._base_uri in machines])
say('version prefix', pg1._client.version_prefix)
say('leases granted', [bool(pg1._lease), bool(pg2._lease), pg1._lease != pg2._lease])

cluster('empty cluster', pg1)
say('pg1 initialize', call(pg1.initialize, create_new=True, sysid=''))
say('pg2 initialize (taken)', call(pg2.initialize, create_new=True, sysid=''))
loop(pg1)
say('pg1 touch_member', call(pg1.touch_member, data('pg1', 'uninitialized', '3.0.2')))
loop(pg2)
say('pg2 touch_member', call(pg2.touch_member, data('pg2', 'uninitialized', '2.0.2')))
cluster('pg2 get_cluster after initialize', pg2)
say('pg1 attempt_to_acquire_leader', call(pg1.attempt_to_acquire_leader))
say('pg2 attempt_to_acquire_leader (held)', call(pg2.attempt_to_acquire_leader))
say('pg1 initialize with sysid (create_new=False)', call(pg1.initialize, create_new=False, sysid='7212345678901234567'))
say('pg1 set_config_value', call(pg1.set_config_value, json.dumps({'ttl': TTL, 'loop_wait': LOOP_WAIT, 'postgresql': {'use_pg_rewind': True}})))
loop(pg1)
say('pg1 touch_member (now the primary)', call(pg1.touch_member, data('pg1', 'primary', '3.0.2')))
loop(pg2)
say('pg2 touch_member (a replica)', call(pg2.touch_member, data('pg2', 'replica', '2.0.2')))
cluster('pg1 get_cluster as leader', pg1)
say('pg1 touch_member unchanged (no write)', call(pg1.touch_member, data('pg1', 'primary', '3.0.2')))
say('pg1 update_leader', call(pg1.update_leader, 50331648, {'permanent_slot': 50331600}, {'pg1': 'http://127.0.0.1:8008/patroni'}))
cluster('pg2 get_cluster after update_leader', pg2)
loop(pg1)
say('pg1 write_leader_optime', call(pg1.write_leader_optime, 50331700))
cluster('pg2 sees the optime', pg2)

c = pg2.get_cluster()
say('pg2 set_config_value with a stale index', call(pg2.set_config_value, json.dumps({'ttl': 30}), int(c.config.index) - 1))
say('pg2 set_config_value with the current index', call(pg2.set_config_value, json.dumps({'ttl': TTL, 'loop_wait': LOOP_WAIT, 'synchronous_mode': True}), c.config.index))
say('pg1 write_sync_state', call(pg1.write_sync_state, 'pg1', ['pg2']))
c = cluster('pg1 get_cluster with sync', pg1)
say('pg1 write_sync_state with a stale index', call(pg1.write_sync_state, 'pg1', [], int(c.sync.index) - 1))
say('pg1 write_sync_state with the current index', call(pg1.write_sync_state, 'pg1', ['pg2', 'pg3'], c.sync.index))
say('pg1 set_history_value', call(pg1.set_history_value, json.dumps([[1, 50331648, 'no recovery target specified', '2023-01-02T03:04:05+00:00', 'pg1']])))
scheduled = datetime.datetime(2031, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
say('pg2 manual_failover (scheduled)', call(pg2.manual_failover, 'pg1', 'pg2', scheduled))
c = cluster('pg2 get_cluster with failover', pg2)
say('pg2 manual_failover with a stale index', call(pg2.manual_failover, 'pg1', '', None, int(c.failover.index) - 1))
say('pg2 set_failover_value with the current index', call(pg2.set_failover_value, json.dumps({'leader': 'pg1', 'member': 'pg2'}), c.failover.index))
cluster('pg1 get_cluster', pg1)
say('pg1 set_failover_value (empty)', call(pg1.set_failover_value, '', None))
cluster('pg1 get_cluster, empty failover', pg1)


# Patroni's watch: a replica's HA loop sleeps in watch() until the leader key (or the leader's
# optime, or the config) changes, told by its /v3/watch stream; the leader's only sleeps.
def watch(node, timeout, fn=None, *args):
    loop(pg1)
    loop(pg2)
    time.sleep(0.1)
    node.event.clear()
    writer = fn and in_thread(0.5, fn, *args)
    t0 = time.time()
    woke = call(node.watch, None, timeout)
    took = time.time() - t0
    return [woke, writer and writer.result(), 'woken' if took < timeout - 0.1 else 'timed out']


say('pg2 watch, nothing changes', watch(pg2, 1.5))
say('pg2 watch, the leader writes its optime', watch(pg2, 8, pg1.update_leader, 50331800))
say('pg1 (the leader) watch, it writes its optime', watch(pg1, 1.5, pg1.update_leader, 50331850))
say('pg2 watch, the config changes', watch(pg2, 8, pg1.set_config_value, json.dumps({'ttl': TTL, 'loop_wait': LOOP_WAIT})))
say('pg2 watch, the leader key goes', watch(pg2, 8, pg1.delete_leader))
cluster('after delete_leader', pg2)
loop(pg1)
say('pg1 delete_leader again (not the leader)', call(pg1.delete_leader))
say('pg2 attempt_to_acquire_leader', call(pg2.attempt_to_acquire_leader))
say('pg1 attempt_to_acquire_leader (held)', call(pg1.attempt_to_acquire_leader))
cluster('pg2 is the leader', pg1)
say('pg2 update_leader', call(pg2.update_leader, 50332000))
say('pg2 delete_sync_state with a stale index', call(pg2.delete_sync_state, 1))
c = cluster('pg2 get_cluster', pg2)
say('pg2 delete_sync_state with the current index', call(pg2.delete_sync_state, c.sync.index))
loop(pg2)
say('pg2 delete_leader with an optime', call(pg2.delete_leader, 50332100))
cluster('nobody leads', pg1)

# A leader whose node stops: pg1 takes the leader key on its lease (ttl TTL) and goes silent.
say('pg1 take_leader', call(pg1.take_leader))
loop(pg1)
say('pg1 update_leader (keeps its lease alive)', call(pg1.update_leader, 50332200))
refreshed = time.time()
cluster('pg1 leads', pg2)
time.sleep(max(0, refreshed + TTL / 2 - time.time()))
say('pg2 attempt_to_acquire_leader at ttl/2', call(pg2.attempt_to_acquire_leader))
acquired = False
while acquired is not True and time.time() < refreshed + TTL + 15:
    time.sleep(0.25)
    acquired = call(pg2.attempt_to_acquire_leader)
say('pg2 acquires once the lease expired', [acquired, 'after ttl' if time.time() - refreshed > TTL - 1 else 'too soon'])
cluster('pg1 and its member key are gone', pg2)
say('pg1 refresh_lease: its lease expired, it gets a new one', [call(pg1.refresh_lease), bool(pg1._lease)])
loop(pg1)
say('pg1 touch_member again', call(pg1.touch_member, data('pg1', 'replica', '3.0.2')))
say('pg1 attempt_to_acquire_leader (held)', call(pg1.attempt_to_acquire_leader))
cluster('pg1 is back as a replica', pg1)

say('pg1 cancel_initialization', call(pg1.cancel_initialization))
cluster('without initialize', pg2)
say('pg1 delete_cluster', call(pg1.delete_cluster))
cluster('after delete_cluster', pg2)
say('revision at the end', rel(linearizable_range()['header']['revision']))
