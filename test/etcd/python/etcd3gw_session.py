"""One session of python3-etcd3gw (OpenStack's etcd client, over etcd's JSON gateway) against
the member at HOST:PORT. Prints one line per step; test/etcd/python-clients-diff.test.ts runs it
against etcd 3.4 and against us and compares the lines. Ids, versions and TTLs that differ by
nature are printed as what they are (present, in range), revisions as they are."""
import json
import sys
import threading

import etcd3gw
from etcd3gw import exceptions

host, port = sys.argv[1], int(sys.argv[2])
client = etcd3gw.Etcd3Client(host=host, port=port, api_path='/v3/', timeout=10)


def say(step, value):
    print(step + ': ' + json.dumps(value, sort_keys=True, default=lambda b: b.decode()), flush=True)


def meta(m):
    return {k: m.get(k) for k in ('create_revision', 'mod_revision', 'version', 'lease')}


def error(fn):
    try:
        fn()
        return 'no error'
    except exceptions.Etcd3Exception as e:
        return type(e).__name__ + ' ' + str(e.detail_text)


say('status keys', sorted(client.status().keys()))
members = client.members()
say('members', [sorted(m.keys()) for m in members])

say('put k1', client.put('k1', 'v1'))
say('get k1', [v.decode() for v in client.get('k1')])
say('get k1 metadata', [[v.decode(), meta(m)] for v, m in client.get('k1', metadata=True)])
say('create k1 (exists)', client.create('k1', 'x'))
say('create k2', client.create('k2', 'v2'))
say('replace k1 v1->v1b', client.replace('k1', 'v1', 'v1b'))
say('replace k1 nope->z', client.replace('k1', 'nope', 'z'))
say('get prefix k', [[v.decode(), m['key'], meta(m)] for v, m in client.get_prefix('k')])
say('get prefix k descend by mod', [v.decode() for v, _ in client.get_prefix('k', sort_order='descend', sort_target='mod')])
say('get missing', client.get('nothing'))

lease = client.lease(ttl=30)
say('lease id', lease.id > 0)
ttl = lease.ttl()
say('lease ttl in (20, 30]', 20 < ttl <= 30)
say('put eph with lease', client.put('eph', 'e', lease=lease))
say('get eph lease matches', [m['lease'] == str(lease.id) for _, m in client.get('eph', metadata=True)])
say('lease keys', [k.decode() for k in lease.keys()])
say('lease refresh', 20 < lease.refresh() <= 30)
say('lease revoke', lease.revoke())
say('get eph after revoke', client.get('eph'))
say('lease ttl after revoke', lease.ttl())

lock = client.lock('mylock', ttl=30)
say('lock acquire', lock.acquire())
say('lock is_acquired', lock.is_acquired())
other = client.lock('mylock', ttl=30)
say('second lock acquire', other.acquire())
say('lock release', lock.release())
say('second lock acquire after release', other.acquire())
say('second lock release', other.release())
other.lease.revoke()
lock.lease.revoke()

events, cancel = client.watch('w')
writer = threading.Timer(0.5, lambda: client.put('w', 'one'))
writer.start()
ev = next(events)
say('watch event', {'key': ev['kv']['key'].decode(), 'value': ev['kv']['value'].decode(), 'version': ev['kv']['version'], 'type': ev.get('type', 'PUT')})
cancel()
writer.join()

events, cancel = client.watch_prefix('p/', prev_kv=True)
threading.Timer(0.5, lambda: (client.put('p/a', '1'), client.put('p/a', '2'), client.delete('p/a'))).start()
got = []
for ev in events:
    got.append([ev.get('type', 'PUT'), ev['kv']['key'].decode(), ev['kv'].get('value', b'').decode(), ev.get('prev_kv', {}).get('value') is not None])
    if len(got) == 3:
        break
cancel()
say('watch prefix events', got)

say('delete k2', client.delete('k2'))
say('delete k2 again', client.delete('k2'))
say('delete prefix k', client.delete_prefix('k'))
say('get all', [[v.decode(), m['key']] for v, m in client.get_all()])

txn = {
    'compare': [{'key': 'dw==', 'result': 'EQUAL', 'target': 'VALUE', 'value': 'b25l'}],
    'success': [{'request_put': {'key': 'dw==', 'value': 'dHdv'}}],
    'failure': [{'request_range': {'key': 'dw=='}}],
}
r = client.transaction(txn)
say('txn succeeded', r.get('succeeded', False))
say('txn revision', r['header']['revision'])
say('txn again', client.transaction(txn).get('succeeded', False))

say('put empty key', error(lambda: client.put('', 'x')))
say('txn same key twice', error(lambda: client.transaction({'success': [{'request_put': {'key': 'eA==', 'value': 'MQ=='}}, {'request_put': {'key': 'eA==', 'value': 'Mg=='}}]})))
say('lease ttl of unknown lease', etcd3gw.Lease(123456789, client=client).ttl())
say('revoke unknown lease', error(lambda: etcd3gw.Lease(123456789, client=client).revoke()))
