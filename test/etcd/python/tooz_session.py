"""One session of tooz, OpenStack's coordination library (Debian's python3-tooz, its `etcd3+http://`
driver tooz.drivers.etcd3gw unchanged; it speaks etcd's JSON gateway through python3-etcd3gw),
against the member at HOST:PORT: four coordinators take, contend for, time out on, heartbeat and
lose locks, and create, join, update, leave and delete groups, as Nova, Cinder or Heat do. Prints
one line per step; test/etcd/tooz-diff.test.ts runs it against etcd 3.4 and against us and
compares the lines. Lease ids, revisions and etcd's member and cluster ids are never printed;
timings only as "after the ttl", "waited" and the like."""
import json
import logging
import sys
import threading
import time

import etcd3gw
import tenacity

host, port = sys.argv[1], int(sys.argv[2])
# tooz's and etcd3gw's own log (warnings, the heart's retries) goes to stderr, which is not compared.
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format='%(asctime)s %(name)s %(levelname)s: %(message)s')

# Debian bookworm pairs tooz 3.1.0, whose driver calls etcd3gw.client(..., api_path=...), with
# etcd3gw 2.0.0, whose client() has no api_path parameter (etcd3gw 2.1.0 added it: "Pass api_path
# thru etcd3gw.client"), so get_coordinator('etcd3+http://...') raises TypeError against any
# server. _client is what etcd3gw 2.1.0's client() does (hand api_path on to Etcd3Client);
# tooz itself runs unchanged.
try:
    etcd3gw.client(api_path='/v3/')
    say_shim = 'etcd3gw.client takes api_path'
except TypeError:
    def _client(host='localhost', port=2379, ca_cert=None, cert_key=None, cert_cert=None,
                timeout=None, protocol='http', api_path='/v3alpha/'):
        return etcd3gw.Etcd3Client(host=host, port=port, ca_cert=ca_cert, cert_key=cert_key,
                                   cert_cert=cert_cert, timeout=timeout, api_path=api_path,
                                   protocol=protocol)
    etcd3gw.client = _client
    say_shim = 'etcd3gw.client shimmed to take api_path (etcd3gw 2.1.0)'

from tooz import coordination  # noqa: E402  (after the shim; the driver looks etcd3gw.client up when it is built)

TTL = 3  # lock_timeout and membership_timeout of the coordinators whose leases are let expire
BASE = 'etcd3+http://{0}:{1}'.format(host, port)


def say(step, value):
    print(step + ': ' + json.dumps(value, sort_keys=True, default=repr), flush=True)


def describe(e):
    """An exception as its class, tooz's message and, for a server error, what the server said."""
    text = 'raised ' + type(e).__name__
    if isinstance(e, tenacity.RetryError):  # its message names a Future by address
        return text + ', the last attempt raised ' + type(e.last_attempt.exception()).__name__
    message = str(e)
    if message:
        text += ': ' + message
    cause = getattr(e, 'cause', None)
    if cause is not None:
        text += ' (cause {0}{1})'.format(type(cause).__name__, '' if getattr(cause, 'detail_text', None) is None else ' ' + json.dumps(cause.detail_text))
    return text


def call(fn, *args, **kwargs):
    """What a call returned (a CoordinatorResult waited for), or the exception it raised."""
    try:
        r = fn(*args, **kwargs)
        if isinstance(r, coordination.CoordAsyncResult):
            r = r.get(timeout=20)
        return show(r)
    except Exception as e:
        return describe(e)


def show(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, (set, frozenset, list, tuple)):
        items = [show(x) for x in v]
        return sorted(items) if isinstance(v, (set, frozenset)) else items
    if isinstance(v, dict):
        return {show(k): show(x) for k, x in v.items()}
    return v


def coordinator(member, query):
    return coordination.get_coordinator(BASE + '?' + query, member)


def in_thread(delay, fn, *args, **kwargs):
    """Runs fn after delay seconds in another thread; .result() waits for it and returns what it returned."""
    out = []
    t = threading.Timer(delay, lambda: out.append(call(fn, *args, **kwargs)))
    t.start()
    t.result = lambda: (t.join(), out[0])[1]
    return t


def timed(fn, *args, **kwargs):
    t0 = time.time()
    r = call(fn, *args, **kwargs)
    return r, time.time() - t0


say('shim', say_shim)

# tooz's default api_version is v3alpha, which etcd 3.4 does not serve: start() grants the
# membership lease at /v3alpha/lease/grant.
default = coordinator(b'nobody', 'timeout=5')
say('default api_version', default.client.api_path)
say('start() with the default api_version (v3alpha)', call(default.start))
say('is_started', default.is_started)

# alice and bob: ttl 10, alice with tooz's heart (a thread calling heartbeat()), bob without.
# carol: ttl TTL with the heart; dave: ttl TTL without, so his leases expire.
alice = coordinator(b'alice', 'timeout=10&api_version=v3')
bob = coordinator(b'bob', 'timeout=10&api_version=v3')
carol = coordinator(b'carol', 'timeout=10&lock_timeout={0}&membership_timeout={0}&api_version=v3beta'.format(TTL))
dave = coordinator(b'dave', 'timeout=10&lock_timeout={0}&membership_timeout={0}&api_version=v3'.format(TTL))
say('api paths', [c.client.api_path for c in (alice, bob, carol, dave)])
say('timeouts', [[c.lock_timeout, c.membership_timeout] for c in (alice, bob, carol, dave)])
say('requires_beating', alice.requires_beating)
say('alice start(start_heart=True)', call(alice.start, start_heart=True))
say('bob start()', call(bob.start))
say('carol start(start_heart=True)', call(carol.start, start_heart=True))
say('dave start()', call(dave.start))
say('started, hearts beating', [[c.is_started, c.heart.is_alive()] for c in (alice, bob, carol, dave)])
say('alice start() again', call(alice.start))
say('heartbeat() returns the next interval', [call(c.heartbeat) for c in (alice, bob, carol, dave)])

# --- locks ---------------------------------------------------------------------------------------
la = alice.get_lock(b'res1')
lb = bob.get_lock(b'res1')
say('lock name', show(la.name))
say('get_lock with an empty name', call(alice.get_lock, b''))
say('alice acquire(blocking=False)', call(la.acquire, blocking=False))
say('alice acquired', la.acquired)
say('bob acquire(blocking=False) while alice holds it', call(lb.acquire, blocking=False))
say('bob acquired', lb.acquired)
say('alice acquire(blocking=False) again, a second lock object', call(alice.get_lock(b'res1').acquire, blocking=False))
say('alice acquire(blocking=False) again, the same lock object', call(la.acquire, blocking=False))
r, took = timed(lb.acquire, blocking=2)
say('bob acquire(blocking=2) while alice holds it', [r, 'after the timeout' if took >= 1.9 else 'too soon'])
say('bob acquire(shared=True)', call(lb.acquire, shared=True))
say('bob release, not holding it', call(lb.release))
say('alice still holds it', call(bob.get_lock(b'res1').acquire, blocking=False))
say('alice heartbeat the lock', call(la.heartbeat))
say('bob heartbeat a lock he does not hold', call(lb.heartbeat))
say('alice is_still_owner', call(la.is_still_owner))
waiter = in_thread(0, timed, lb.acquire, blocking=True)
time.sleep(1)
say('alice release while bob waits', call(la.release))
r, took = waiter.result()
say('bob acquire(blocking=True) returns once alice released', [r, 'waited' if took >= 0.9 else 'too soon'])
say('alice acquire(blocking=False) while bob holds it', call(la.acquire, blocking=False))
say('alice release, not holding it', call(la.release))
say('bob release', call(lb.release))
say('bob release again', call(lb.release))
say('acquired after release', [la.acquired, lb.acquired])
r, took = timed(la.acquire, blocking=10)
say('alice acquire(blocking=10) of a free lock', [r, 'at once' if took < 1.5 else 'waited'])
say('alice release', call(la.release))


def with_lock(lock, *args):
    with (lock(*args) if args else lock) as held:
        return ['inside', held is lock, lock.acquired, call(bob.get_lock(b'ctx').acquire, blocking=False)]


lc = alice.get_lock(b'ctx')
say('alice with lock', call(with_lock, lc))
say('after the with block', [lc.acquired, call(bob.get_lock(b'ctx').acquire, blocking=False)])
say('alice with lock(False) while bob holds it', call(with_lock, lc, False))
say('bob break_ the lock', call(bob.get_lock(b'ctx').break_))
say('bob break_ it again', call(bob.get_lock(b'ctx').break_))
say('alice with lock(False) after the break', call(with_lock, lc, False))


def lock_keys():
    return sorted(k.decode() for _, m in alice.client.get_prefix('/tooz/locks') for k in [m['key']])


say('lock keys left', lock_keys())

# --- groups --------------------------------------------------------------------------------------
say('get_groups, none', call(alice.get_groups))
say('alice create_group g1', call(alice.create_group, b'g1'))
say('bob create_group g1 again', call(bob.create_group, b'g1'))
say('get_members g1, empty', call(bob.get_members, b'g1'))
say('alice join_group g1', call(alice.join_group, b'g1', {'role': 'api', 'weight': 1}))
say('alice join_group g1 again', call(alice.join_group, b'g1', b'x'))
say('bob join_group g1', call(bob.join_group, b'g1', b'bob-caps'))
say('bob join_group missing', call(bob.join_group, b'missing'))
say('get_members g1', call(carol.get_members, b'g1'))
say('get_member_capabilities g1 alice', call(bob.get_member_capabilities, b'g1', b'alice'))
say('get_member_capabilities g1 bob', call(alice.get_member_capabilities, b'g1', b'bob'))
say('get_member_capabilities g1 nobody', call(alice.get_member_capabilities, b'g1', b'nobody'))
say('get_member_capabilities missing alice', call(alice.get_member_capabilities, b'missing', b'alice'))
say('alice update_capabilities g1', call(alice.update_capabilities, b'g1', {'role': 'conductor', 'weight': 2, 'tags': ['a', 'b']}))
say('get_member_capabilities g1 alice, updated', call(bob.get_member_capabilities, b'g1', b'alice'))
say('carol update_capabilities g1, not joined', call(carol.update_capabilities, b'g1', b'c'))
say('get_member_info', call(alice.get_member_info, b'g1', b'alice'))
say('get_leader', call(alice.get_leader, b'g1'))
say('watch_join_group', call(alice.watch_join_group, b'g1', lambda event: None))
say('watch_leave_group', call(alice.watch_leave_group, b'g1', lambda event: None))
say('unwatch_join_group', call(alice.unwatch_join_group, b'g1', lambda event: None))
say('watch_elected_as_leader', call(alice.watch_elected_as_leader, b'g1', lambda event: None))
say('run_watchers', call(alice.run_watchers))
say('run_elect_coordinator', call(alice.run_elect_coordinator))
say('stand_down_group_leader', call(alice.stand_down_group_leader, b'g1'))
say('alice create_group g2', call(alice.create_group, b'g2'))
say('dave heartbeat() (his membership lease may have expired meanwhile)', call(dave.heartbeat))
say('carol join_group_create g3 (creates it)', call(carol.join_group_create, b'g3', b'carol'))
say('dave join_group_create g3 (exists)', call(dave.join_group_create, b'g3', b'dave'))
say('get_members g3', call(alice.get_members, b'g3'))
say('get_groups', call(bob.get_groups))
say('alice delete_group g1, not empty', call(alice.delete_group, b'g1'))
say('alice delete_group missing', call(alice.delete_group, b'missing'))
say('alice delete_group g2 (empty)', call(alice.delete_group, b'g2'))
say('get_members g2, deleted', call(alice.get_members, b'g2'))
say('bob leave_group g1', call(bob.leave_group, b'g1'))
say('bob leave_group g1 again', call(bob.leave_group, b'g1'))
say('bob leave_group missing', call(bob.leave_group, b'missing'))
say('get_members g1 after bob left', call(alice.get_members, b'g1'))
say('bob get_member_capabilities g1 bob, left', call(bob.get_member_capabilities, b'g1', b'bob'))
say('bob update_capabilities g1, left', call(bob.update_capabilities, b'g1', b'y'))
say('bob join_group g1 again after leaving', call(bob.join_group, b'g1', b'bob-again'))
say('get_members g1, bob back', call(alice.get_members, b'g1'))
say('heartbeat() with groups joined', [call(c.heartbeat) for c in (alice, bob)])

# --- leases: carol's heart keeps hers alive, dave's expire ----------------------------------------
lcar = carol.get_lock(b'carol-res')
ldav = dave.get_lock(b'dave-res')
say('carol acquire carol-res', call(lcar.acquire, blocking=False))
say('dave acquire dave-res', call(ldav.acquire, blocking=False))
say('dave heartbeat() once', call(dave.heartbeat))
t0 = time.time()
r = call(alice.get_lock(b'dave-res').acquire, blocking=False)
say('alice acquire dave-res at once', r)
la2 = alice.get_lock(b'dave-res')
r = call(la2.acquire, blocking=20)
elapsed = time.time() - t0
say('alice acquire(blocking=20) dave-res once dave\'s lease expired', [r, 'after ttl' if elapsed >= TTL - 0.5 else 'too soon'])
deadline = time.time() + 15
members = call(alice.get_members, b'g3')
while 'dave' in members and time.time() < deadline:
    time.sleep(0.2)
    members = call(alice.get_members, b'g3')
say('get_members g3 once dave\'s membership lease expired', [members, 'after ttl' if time.time() - t0 >= TTL - 0.5 else 'too soon'])
say('dave join_group g1 with his membership lease expired', call(dave.join_group, b'g1', b'dave'))
say('carol still holds carol-res past the ttl', [call(bob.get_lock(b'carol-res').acquire, blocking=False), lcar.acquired])
say('carol heart beats', [carol.heart.is_alive(), carol.heart.beats > 1])
say('dave release dave-res, lost', call(ldav.release))
say('dave acquired dave-res, as dave believes', ldav.acquired)
say('dave heartbeat the lost lock', call(ldav.heartbeat))
say('dave heartbeat() (a new membership lease)', call(dave.heartbeat))
say('dave leave_group g3, expired', call(dave.leave_group, b'g3'))
say('dave join_group g3 again', call(dave.join_group, b'g3', b'dave-again'))
say('get_members g3, dave back', call(alice.get_members, b'g3'))
say('alice release dave-res', call(la2.release))
say('carol release carol-res', call(lcar.release))
ldav = dave.get_lock(b'dave-res')
say('dave acquire dave-res again', call(ldav.acquire, blocking=False))
say('lock keys left', lock_keys())

# --- stop: leaves the groups each coordinator joined, keeps its locks till their leases expire ---
say('bob heartbeat()', call(bob.heartbeat))
say('dave stop (holding dave-res)', call(dave.stop))
t0 = time.time()
say('get_members g3 after dave stopped', call(alice.get_members, b'g3'))
lbd = bob.get_lock(b'dave-res')
say('bob acquire dave-res after dave stopped', call(lbd.acquire, blocking=False))
r = call(lbd.acquire, blocking=20)
say('bob acquire(blocking=20) dave-res', [r, 'after ttl' if time.time() - t0 >= TTL - 0.5 else 'too soon'])
say('bob release dave-res', call(lbd.release))
say('carol stop', call(carol.stop))
say('carol heart after stop', carol.heart.is_alive())
say('get_members g3 after carol stopped', call(alice.get_members, b'g3'))
say('bob stop', call(bob.stop))
say('bob stop again', call(bob.stop))
say('get_members g1 after bob stopped', call(alice.get_members, b'g1'))
say('alice leave_group g1', call(alice.leave_group, b'g1'))
say('alice delete_group g1', call(alice.delete_group, b'g1'))
say('alice delete_group g3', call(alice.delete_group, b'g3'))
say('get_groups at the end', call(alice.get_groups))
say('alice stop', call(alice.stop))
say('started at the end', [c.is_started for c in (alice, bob, carol, dave)])
say('lock keys at the end', sorted(k.decode() for _, m in etcd3gw.client(host=host, port=port, api_path='/v3/').get_prefix('/tooz/locks') for k in [m['key']]))
