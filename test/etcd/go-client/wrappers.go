package main

// clientv3's wrappers over the plain client, each built from KV, Txn, Watch and Lease calls in
// its own way: namespace (a key prefix added and removed on every request, range ends and events
// included), leasing (a client-side read cache kept coherent by leasing keys, Txns on their
// create revisions and watches; a second leasing client's write revokes the first one's lease)
// and ordering (refuses a response whose revision is older than one already seen).

import (
	"context"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/leasing"
	"go.etcd.io/etcd/clientv3/namespace"
	"go.etcd.io/etcd/clientv3/ordering"
)

func wrappers(ctx context.Context, c *clientv3.Client) {
	nkv := namespace.NewKV(c.KV, "tenant/")
	r, err := nkv.Put(ctx, "k1", "one")
	say("namespace: put k1: %s rev %d", errText(err), putRev(r))
	_, err = nkv.Put(ctx, "k2", "two")
	say("namespace: put k2: %s", errText(err))
	g, err := nkv.Get(ctx, "k", clientv3.WithPrefix())
	say("namespace: get k prefix: %s %s", errText(err), got(g))
	g, err = nkv.Get(ctx, "", clientv3.WithFromKey())
	say("namespace: every key of the namespace: %s %s", errText(err), got(g))
	g, err = c.Get(ctx, "tenant/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	say("namespace: the same keys seen without it: %s %s", errText(err), got(g))
	t, err := nkv.Txn(ctx).If(clientv3.Compare(clientv3.Value("k1"), "=", "one")).Then(clientv3.OpPut("k3", "three"), clientv3.OpGet("k", clientv3.WithPrefix())).Commit()
	if err == nil {
		say("namespace: txn: ok succeeded %v rev %d then-get %s", t.Succeeded, t.Header.Revision, kvs(t.Responses[1].GetResponseRange().Kvs))
	} else {
		say("namespace: txn: %s", errText(err))
	}
	nw := namespace.NewWatcher(c.Watcher, "tenant/")
	wctx, wcancel := context.WithCancel(ctx)
	wch := nw.Watch(wctx, "k", clientv3.WithPrefix(), clientv3.WithRev(putRev(r)), clientv3.WithPrevKV())
	_, err = nkv.Delete(ctx, "k2")
	say("namespace: delete k2: %s", errText(err))
	seen := []string{}
	for len(seen) < 4 {
		select {
		case wr := <-wch:
			for _, ev := range wr.Events {
				prev := ""
				if ev.PrevKv != nil {
					prev = " prev " + string(ev.PrevKv.Value)
				}
				seen = append(seen, ev.Type.String()+" "+string(ev.Kv.Key)+prev)
			}
		case <-time.After(10 * time.Second):
			seen = append(seen, "(no more events in 10 s)", "", "", "")
		}
	}
	wcancel()
	say("namespace: watch k prefix from the first put: %v", seen)
	nl := namespace.NewLease(c.Lease, "tenant/")
	lg, err := nl.Grant(ctx, 60)
	if err != nil {
		say("namespace: lease grant: %s", errText(err))
		return
	}
	say("namespace: lease grant: ok ttl %d", lg.TTL)
	_, err = nkv.Put(ctx, "leased", "x", clientv3.WithLease(lg.ID))
	say("namespace: put with the lease: %s", errText(err))
	ttl, err := nl.TimeToLive(ctx, lg.ID, clientv3.WithAttachedKeys())
	keys := []string{}
	if err == nil {
		for _, k := range ttl.Keys {
			keys = append(keys, string(k))
		}
	}
	say("namespace: lease time-to-live keys: %s %v", errText(err), keys)
	_, err = nl.Revoke(ctx, lg.ID)
	say("namespace: lease revoke: %s", errText(err))

	lkv1, close1, err := leasing.NewKV(c, "leases/")
	say("leasing: client 1: %s", errText(err))
	lkv2, close2, err := leasing.NewKV(c, "leases/")
	say("leasing: client 2: %s", errText(err))
	_, err = c.Put(ctx, "cached", "v1")
	say("leasing: plain put cached=v1: %s", errText(err))
	g, err = lkv1.Get(ctx, "cached")
	say("leasing: client 1 get (takes the leasing key): %s %s", errText(err), got(g))
	g, err = c.Get(ctx, "leases/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	say("leasing: leasing keys on the server: %s [%s]", errText(err), firstKey(g))
	g, err = lkv1.Get(ctx, "cached")
	say("leasing: client 1 get again (from its cache): %s %s", errText(err), got(g))
	pr, err := lkv2.Put(ctx, "cached", "v2")
	say("leasing: client 2 put cached=v2 (revokes client 1's lease on it): %s", errText(err))
	_ = pr
	g, err = lkv1.Get(ctx, "cached")
	say("leasing: client 1 get after client 2's write: %s %s", errText(err), got(g))
	lt, err := lkv1.Txn(ctx).If(clientv3.Compare(clientv3.Value("cached"), "=", "v2")).Then(clientv3.OpPut("cached", "v3")).Else(clientv3.OpGet("cached")).Commit()
	if err == nil {
		say("leasing: client 1 txn value=v2 then put v3: ok succeeded %v", lt.Succeeded)
	} else {
		say("leasing: client 1 txn: %s", errText(err))
	}
	g, err = lkv2.Get(ctx, "cached")
	say("leasing: client 2 get: %s %s", errText(err), got(g))
	d, err := lkv1.Delete(ctx, "cached")
	if err == nil {
		say("leasing: client 1 delete: ok deleted %d", d.Deleted)
	} else {
		say("leasing: client 1 delete: %s", errText(err))
	}
	g, err = lkv2.Get(ctx, "cached")
	say("leasing: client 2 get after the delete: %s %s", errText(err), got(g))
	close1()
	close2()

	okv := ordering.NewKV(c.KV, ordering.NewOrderViolationSwitchEndpointClosure(c))
	var last int64
	ok := true
	for i := 0; i < 5; i++ {
		g, err = okv.Get(ctx, "a")
		if err != nil || g == nil || g.Header.Revision < last {
			ok = false
			say("ordering: get %d: %s", i, errText(err))
			break
		}
		last = g.Header.Revision
	}
	g, err = okv.Get(ctx, "a", clientv3.WithSerializable())
	say("ordering: five linearizable gets and a serializable one never went back: %v %s", ok && err == nil && g != nil && g.Header.Revision >= last, errText(err))
}

// got prints a Get's key-values; nothing when the Get failed (its error is on the same line).
func got(g *clientv3.GetResponse) string {
	if g == nil {
		return ""
	}
	return kvs(g.Kvs)
}

func putRev(r *clientv3.PutResponse) int64 {
	if r == nil {
		return 0
	}
	return r.Header.Revision
}

func firstKey(g *clientv3.GetResponse) string {
	if g == nil || len(g.Kvs) == 0 {
		return ""
	}
	return string(g.Kvs[0].Key)
}
