// A session of Go's etcd client (go.etcd.io/etcd/clientv3, etcd 3.4, as Debian's
// golang-etcd-server-dev ships it) printed as a transcript: one line per step with what the
// client handed back — revisions, versions, values, event kinds, error strings, and whether an
// error is the typed error clientv3 maps it to (its retry and watch logic decide on those).
// test/etcd/go-clientv3.test.ts runs it against a fresh 3-member etcd and a fresh Placement
// Center cluster and compares the transcripts.
//
// Only what must match is printed: lease ids, member ids, raft indexes and server versions
// differ between the servers by design, so a line says whether they are set, not their value.
//
// Usage: go-client ENDPOINT[,ENDPOINT...]
//
// `go-client failover ENDPOINTS` is the other mode (failover.go): writes and a watch through a
// member's death, checked by the program itself.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

var step = 0

func say(format string, args ...interface{}) {
	step++
	fmt.Printf("%02d %s\n", step, fmt.Sprintf(format, args...))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

func kvs(list []*mvccpb.KeyValue) string {
	parts := make([]string, 0, len(list))
	for _, kv := range list {
		parts = append(parts, fmt.Sprintf("%s=%q c%d m%d v%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "failover" {
		failover(strings.Split(os.Args[2], ","))
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-client ENDPOINT[,ENDPOINT...] | go-client failover ENDPOINT[,ENDPOINT...]")
		os.Exit(2)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(os.Args[1], ","), DialTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer c.Close()
	ctx, cancel := withTimeout(60 * time.Second)
	defer cancel()

	kv(ctx, c)
	txn(ctx, c)
	watch(ctx, c)
	lease(ctx, c)
	recipes(ctx, c)
	wrappers(ctx, c)
	history(ctx, c)
	cluster(ctx, c)
	lockElectionServices(ctx, c)
	auth(ctx, c, strings.Split(os.Args[1], ","))
}

func kv(ctx context.Context, c *clientv3.Client) {
	r, err := c.Put(ctx, "a", "1")
	say("put a=1: %s rev %d", errText(err), r.Header.Revision)
	r, err = c.Put(ctx, "a", "2", clientv3.WithPrevKV())
	say("put a=2 prev-kv: %s rev %d prev %s", errText(err), r.Header.Revision, kvs([]*mvccpb.KeyValue{r.PrevKv}))
	for _, k := range []string{"b/1", "b/2", "b/3", "c"} {
		_, err = c.Put(ctx, k, "v-"+k)
		say("put %s: %s", k, errText(err))
	}
	g, err := c.Get(ctx, "a")
	say("get a: %s rev %d count %d %s", errText(err), g.Header.Revision, g.Count, kvs(g.Kvs))
	g, err = c.Get(ctx, "b/", clientv3.WithPrefix(), clientv3.WithLimit(2), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	say("get b/ prefix limit 2 descending: %s count %d more %v %s", errText(err), g.Count, g.More, kvs(g.Kvs))
	g, err = c.Get(ctx, "b/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	say("get b/ count-only: %s count %d kvs %d", errText(err), g.Count, len(g.Kvs))
	g, err = c.Get(ctx, "b/2", clientv3.WithFromKey(), clientv3.WithKeysOnly(), clientv3.WithSerializable())
	say("get from b/2 keys-only serializable: %s count %d %s", errText(err), g.Count, kvs(g.Kvs))
	g, err = c.Get(ctx, "a", clientv3.WithRev(1))
	say("get a at rev 1: %s %s", errText(err), kvs(g.Kvs))
	g, err = c.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithMinModRev(4), clientv3.WithMaxModRev(5))
	say("get all with mod rev 4..5: %s %s", errText(err), kvs(g.Kvs))
	_, err = c.Get(ctx, "a", clientv3.WithRev(1000))
	say("get a at a future rev: %s typed=%v", errText(err), err == rpctypes.ErrFutureRev)
	_, err = c.Put(ctx, "", "x")
	say("put with an empty key: %s typed=%v", errText(err), err == rpctypes.ErrEmptyKey)
	_, err = c.Put(ctx, "a", "", clientv3.WithIgnoreValue())
	say("put a ignore-value: %s", errText(err))
	_, err = c.Put(ctx, "nolease", "x", clientv3.WithIgnoreLease())
	say("put a new key ignore-lease: %s typed=%v", errText(err), err == rpctypes.ErrKeyNotFound)
	_, err = c.Put(ctx, "x", "y", clientv3.WithLease(clientv3.LeaseID(0x1234)))
	say("put with a lease that does not exist: %s typed=%v", errText(err), err == rpctypes.ErrLeaseNotFound)
	d, err := c.Delete(ctx, "b/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	say("delete b/ prefix prev-kv: %s rev %d deleted %d %s", errText(err), d.Header.Revision, d.Deleted, kvs(d.PrevKvs))
	d, err = c.Delete(ctx, "nothing")
	say("delete a missing key: %s rev %d deleted %d", errText(err), d.Header.Revision, d.Deleted)
}

func txn(ctx context.Context, c *clientv3.Client) {
	g, _ := c.Get(ctx, "a")
	mod := g.Kvs[0].ModRevision
	t, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision("a"), "=", mod), clientv3.Compare(clientv3.Value("c"), "=", "v-c")).
		Then(clientv3.OpPut("a", "3"), clientv3.OpPut("t/1", "x"), clientv3.OpGet("a")).
		Else(clientv3.OpGet("a")).Commit()
	say("txn mod(a)=%d and value(c): %s succeeded %v rev %d then-get %s", mod, errText(err), t.Succeeded, t.Header.Revision, kvs(t.Responses[2].GetResponseRange().Kvs))
	t, err = c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision("a"), "=", mod)).
		Then(clientv3.OpPut("a", "never")).
		Else(clientv3.OpGet("a"), clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Version("a"), ">", 1)}, []clientv3.Op{clientv3.OpGet("t/1")}, nil)).Commit()
	say("txn on a stale mod revision: %s succeeded %v rev %d else %s nested %v %s", errText(err), t.Succeeded, t.Header.Revision,
		kvs(t.Responses[0].GetResponseRange().Kvs), t.Responses[1].GetResponseTxn().Succeeded, kvs(t.Responses[1].GetResponseTxn().Responses[0].GetResponseRange().Kvs))
	t, err = c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision("missing"), "=", 0)).Then(clientv3.OpPut("missing", "now"), clientv3.OpDelete("t/", clientv3.WithPrefix())).Commit()
	say("txn create(missing)=0 then put and delete: %s succeeded %v rev %d deleted %d", errText(err), t.Succeeded, t.Header.Revision, t.Responses[1].GetResponseDeleteRange().Deleted)
	_, err = c.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit()
	say("txn writing one key twice: %s typed=%v", errText(err), err == rpctypes.ErrDuplicateKey)
	ops := make([]clientv3.Op, 129)
	for i := range ops {
		ops[i] = clientv3.OpGet(fmt.Sprintf("k%d", i))
	}
	_, err = c.Txn(ctx).Then(ops...).Commit()
	say("txn with 129 operations: %s typed=%v", errText(err), err == rpctypes.ErrTooManyOps)
	// Above the server's 1.5 MiB request limit, below the client's own 2 MiB send limit.
	_, err = c.Put(ctx, "big", strings.Repeat("x", 1600*1024))
	say("put of 1.6 MiB: %s typed=%v", errText(err), err == rpctypes.ErrRequestTooLarge)

	// Software transactional memory (serializable snapshot isolation): a read-modify-write retried
	// on conflict, as clientv3's concurrency package runs it.
	for i := 0; i < 3; i++ {
		r, err := concurrency.NewSTM(c, func(s concurrency.STM) error {
			n := 0
			fmt.Sscanf(s.Get("counter"), "%d", &n)
			s.Put("counter", fmt.Sprint(n+1))
			return nil
		})
		say("stm increment counter: %s succeeded %v rev %d", errText(err), r.Succeeded, r.Header.Revision)
	}
	g, _ = c.Get(ctx, "counter")
	say("counter: %s", kvs(g.Kvs))
}

func watch(ctx context.Context, c *clientv3.Client) {
	g, _ := c.Get(ctx, "a")
	from := g.Header.Revision + 1
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wc := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithPrevKV())
	_, _ = c.Put(ctx, "w/1", "x")
	_, _ = c.Put(ctx, "w/2", "y")
	_, _ = c.Txn(ctx).Then(clientv3.OpPut("w/1", "z"), clientv3.OpDelete("w/2")).Commit()
	_, _ = c.Put(ctx, "unwatched", "u")
	_, _ = c.Delete(ctx, "w/", clientv3.WithPrefix())
	got := 0
	for got < 5 {
		select {
		case wr, ok := <-wc:
			if !ok {
				say("watch w/: closed early: %s", errText(wr.Err()))
				return
			}
			evs := make([]string, 0, len(wr.Events))
			for _, e := range wr.Events {
				prev := "-"
				if e.PrevKv != nil {
					prev = fmt.Sprintf("%q", e.PrevKv.Value)
				}
				evs = append(evs, fmt.Sprintf("%s %s=%q m%d v%d prev %s", e.Type, e.Kv.Key, e.Kv.Value, e.Kv.ModRevision, e.Kv.Version, prev))
			}
			got += len(wr.Events)
			say("watch w/ from %d: rev %d events %s", from, wr.Header.Revision, strings.Join(evs, "; "))
		case <-time.After(10 * time.Second):
			say("watch w/: no events for 10 s after %d", got)
			return
		}
	}
	filtered := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithFilterPut())
	select {
	case wr := <-filtered:
		kinds := []string{}
		for _, e := range wr.Events {
			kinds = append(kinds, fmt.Sprintf("%s %s m%d", e.Type, e.Kv.Key, e.Kv.ModRevision))
		}
		say("watch w/ without puts: %s", strings.Join(kinds, "; "))
	case <-time.After(10 * time.Second):
		say("watch w/ without puts: nothing in 10 s")
	}
	// A progress request answers on every watcher of the stream with the member's revision.
	live := c.Watch(wctx, "quiet/", clientv3.WithPrefix())
	if err := c.RequestProgress(wctx); err != nil {
		say("progress request: %s", errText(err))
		return
	}
	g, _ = c.Get(ctx, "a")
	select {
	case wr := <-live:
		say("progress request: notify %v at the current rev %v events %d", wr.IsProgressNotify(), wr.Header.Revision == g.Header.Revision, len(wr.Events))
	case <-time.After(10 * time.Second):
		say("progress request: no answer in 10 s")
	}
}

func lease(ctx context.Context, c *clientv3.Client) {
	gr, err := c.Grant(ctx, 30)
	say("grant ttl 30: %s id set %v ttl %d", errText(err), gr.ID != 0, gr.TTL)
	id := gr.ID
	_, err = c.Put(ctx, "leased/1", "x", clientv3.WithLease(id))
	say("put leased/1 with the lease: %s", errText(err))
	_, err = c.Put(ctx, "leased/2", "y", clientv3.WithLease(id))
	say("put leased/2 with the lease: %s", errText(err))
	ttl, err := c.TimeToLive(ctx, id, clientv3.WithAttachedKeys())
	keys := []string{}
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	say("time-to-live with keys: %s granted %d remaining in (20,30] %v keys %v", errText(err), ttl.GrantedTTL, ttl.TTL > 20 && ttl.TTL <= 30, keys)
	ka, err := c.KeepAliveOnce(ctx, id)
	say("keep-alive once: %s ttl %d", errText(err), ka.TTL)
	kactx, kacancel := context.WithCancel(ctx)
	ch, err := c.KeepAlive(kactx, id)
	if err == nil {
		select {
		case r := <-ch:
			say("keep-alive stream: first answer ttl %d", r.TTL)
		case <-time.After(10 * time.Second):
			say("keep-alive stream: no answer in 10 s")
		}
	} else {
		say("keep-alive stream: %s", errText(err))
	}
	kacancel()
	ls, err := c.Leases(ctx)
	say("leases: %s count %d", errText(err), len(ls.Leases))
	g, _ := c.Get(ctx, "leased/1")
	say("leased/1 has the lease: %v", len(g.Kvs) == 1 && clientv3.LeaseID(g.Kvs[0].Lease) == id)
	_, err = c.Put(ctx, "leased/1", "kept", clientv3.WithIgnoreLease())
	g, _ = c.Get(ctx, "leased/1")
	say("put leased/1 ignore-lease: %s still has the lease %v value %q", errText(err), clientv3.LeaseID(g.Kvs[0].Lease) == id, g.Kvs[0].Value)
	rv, err := c.Revoke(ctx, id)
	say("revoke: %s rev %d", errText(err), rv.Header.Revision)
	g, _ = c.Get(ctx, "leased/", clientv3.WithPrefix())
	say("leased/ after the revoke: count %d", g.Count)
	_, err = c.Revoke(ctx, id)
	say("revoke again: %s typed=%v", errText(err), err == rpctypes.ErrLeaseNotFound)
	_, err = c.KeepAliveOnce(ctx, id)
	say("keep-alive once a revoked lease: %s typed=%v", errText(err), err == rpctypes.ErrLeaseNotFound)
	ttl, err = c.TimeToLive(ctx, id)
	say("time-to-live of a revoked lease: %s ttl %d", errText(err), ttl.TTL)
	_, err = c.Grant(ctx, 9999999999)
	say("grant a ttl past the maximum: %s typed=%v", errText(err), err == rpctypes.ErrLeaseTTLTooLarge)
}

func recipes(ctx context.Context, c *clientv3.Client) {
	s1, err := concurrency.NewSession(c, concurrency.WithTTL(30))
	say("session 1: %s", errText(err))
	s2, err := concurrency.NewSession(c, concurrency.WithTTL(30))
	say("session 2: %s", errText(err))
	m1 := concurrency.NewMutex(s1, "lock/")
	m2 := concurrency.NewMutex(s2, "lock/")
	err = m1.Lock(ctx)
	say("mutex: session 1 locks: %s key under lock/ %v", errText(err), strings.HasPrefix(m1.Key(), "lock/"))
	short, cancel := withTimeout(time.Second)
	err = m2.Lock(short)
	cancel()
	say("mutex: session 2 waits a second: %s", errText(err))
	locked := make(chan error, 1)
	go func() { locked <- m2.Lock(ctx) }()
	err = m1.Unlock(ctx)
	say("mutex: session 1 unlocks: %s", errText(err))
	select {
	case err = <-locked:
		say("mutex: session 2 then holds it: %s", errText(err))
	case <-time.After(10 * time.Second):
		say("mutex: session 2 still waits 10 s after the unlock")
	}
	t, err := c.Txn(ctx).If(m2.IsOwner()).Then(clientv3.OpPut("fenced", "by-2")).Commit()
	say("write fenced by session 2's ownership: %s succeeded %v", errText(err), t.Succeeded)
	t, err = c.Txn(ctx).If(m1.IsOwner()).Then(clientv3.OpPut("fenced", "by-1")).Commit()
	say("write fenced by session 1's (lost) ownership: %s succeeded %v", errText(err), t.Succeeded)
	_ = m2.Unlock(ctx)

	e1 := concurrency.NewElection(s1, "elect/")
	e2 := concurrency.NewElection(s2, "elect/")
	err = e1.Campaign(ctx, "one")
	say("election: one campaigns: %s", errText(err))
	l, err := e1.Leader(ctx)
	say("election: leader value %s %q", errText(err), l.Kvs[0].Value)
	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "two") }()
	obs := e1.Observe(ctx)
	first := <-obs
	say("election: observed %q", first.Kvs[0].Value)
	err = e1.Proclaim(ctx, "one again")
	say("election: one proclaims: %s", errText(err))
	p := <-obs
	say("election: observed %q", p.Kvs[0].Value)
	err = e1.Resign(ctx)
	say("election: one resigns: %s", errText(err))
	select {
	case err = <-won:
		say("election: two is leader: %s", errText(err))
	case <-time.After(10 * time.Second):
		say("election: two not elected 10 s after the resignation")
	}
	l, err = e2.Leader(ctx)
	say("election: leader value %s %q", errText(err), l.Kvs[0].Value)
	err = s2.Close()
	say("session 2 closes: %s", errText(err))
	_, err = e1.Leader(ctx)
	say("election: leader with no candidates: %s typed=%v", errText(err), err == concurrency.ErrElectionNoLeader)
	err = s1.Close()
	say("session 1 closes: %s", errText(err))
	g, _ := c.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithKeysOnly())
	keys := []string{}
	for _, kv := range g.Kvs {
		keys = append(keys, string(kv.Key))
	}
	say("keys left: %v", keys)
}

func history(ctx context.Context, c *clientv3.Client) {
	g, _ := c.Get(ctx, "a")
	rev := g.Header.Revision
	_, err := c.Compact(ctx, rev-3, clientv3.WithCompactPhysical())
	say("compact to rev-3 physical: %s", errText(err))
	_, err = c.Get(ctx, "a", clientv3.WithRev(rev-4))
	say("get below the compaction: %s typed=%v", errText(err), err == rpctypes.ErrCompacted)
	g, err = c.Get(ctx, "a", clientv3.WithRev(rev-3))
	say("get at the compaction: %s count %d", errText(err), g.Count)
	_, err = c.Compact(ctx, rev-5)
	say("compact below the compaction: %s typed=%v", errText(err), err == rpctypes.ErrCompacted)
	_, err = c.Compact(ctx, rev+100)
	say("compact a future rev: %s typed=%v", errText(err), err == rpctypes.ErrFutureRev)
	wc := c.Watch(ctx, "", clientv3.WithFromKey(), clientv3.WithRev(2))
	select {
	case wr := <-wc:
		say("watch from a compacted rev: canceled %v compact rev is rev-3 %v err %s", wr.Canceled, wr.CompactRevision == rev-3, errText(wr.Err()))
	case <-time.After(10 * time.Second):
		say("watch from a compacted rev: no answer in 10 s")
	}
}

func cluster(ctx context.Context, c *clientv3.Client) {
	ml, err := c.MemberList(ctx)
	named := 0
	for _, m := range ml.Members {
		if m.ID != 0 && len(m.ClientURLs) > 0 && len(m.PeerURLs) > 0 && !m.IsLearner {
			named++
		}
	}
	say("member list: %s members %d with id, client and peer urls %d", errText(err), len(ml.Members), named)
	leaders := 0
	for _, ep := range c.Endpoints() {
		st, err := c.Status(ctx, ep)
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			leaders++
		}
		if err != nil {
			say("status %s: %s", ep, errText(err))
		}
	}
	say("status of every endpoint: leaders %d", leaders)
	hk, err := c.HashKV(ctx, c.Endpoints()[0], 0)
	say("hashkv: %s hash set %v", errText(err), hk.Hash != 0)
	al, err := c.AlarmList(ctx)
	say("alarm list: %s alarms %d", errText(err), len(al.Alarms))
	_, err = c.Defragment(ctx, c.Endpoints()[0])
	say("defragment: %s", errText(err))
}

// connectAs is a client that authenticates as `user` (clientv3 gets a token and sends it on every call).
func connectAs(endpoints []string, user, password string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Username: user, Password: password})
}

// auth: users, roles and a prefix permission; clientv3 with a name and password gets a token
// (Authenticate) and sends it with every call; without one it is refused.
func auth(ctx context.Context, c *clientv3.Client, endpoints []string) {
	_, err := c.UserAdd(ctx, "root", "rootpw")
	say("user add root: %s", errText(err))
	_, err = c.RoleAdd(ctx, "app")
	say("role add app: %s", errText(err))
	_, err = c.RoleGrantPermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/"), clientv3.PermissionType(clientv3.PermReadWrite))
	say("grant app readwrite on app/: %s", errText(err))
	_, err = c.UserAdd(ctx, "alice", "alicepw")
	say("user add alice: %s", errText(err))
	_, err = c.UserGrantRole(ctx, "alice", "app")
	say("grant alice app: %s", errText(err))
	_, err = c.UserGrantRole(ctx, "alice", "nope")
	say("grant alice a missing role: %s typed=%v", errText(err), err == rpctypes.ErrRoleNotFound)
	_, err = c.UserGrantRole(ctx, "root", "root")
	say("grant root root: %s", errText(err))
	_, err = c.AuthEnable(ctx)
	say("auth enable: %s", errText(err))
	_, err = c.Put(ctx, "app/x", "anonymous")
	say("anonymous put with auth on: %s typed=%v", errText(err), err == rpctypes.ErrUserEmpty)

	as, err := connectAs(endpoints, "alice", "alicepw")
	if err != nil {
		say("alice connects: %s", errText(err))
		return
	}
	defer as.Close()
	r, err := as.Put(ctx, "app/x", "by alice")
	say("alice puts app/x: %s rev %d", errText(err), r.Header.Revision)
	g, err := as.Get(ctx, "app/", clientv3.WithPrefix())
	say("alice gets app/: %s %s", errText(err), kvs(g.Kvs))
	_, err = as.Put(ctx, "other", "by alice")
	say("alice puts outside app/: %s typed=%v", errText(err), err == rpctypes.ErrPermissionDenied)
	_, err = as.Txn(ctx).If(clientv3.Compare(clientv3.Version("other"), "=", 0)).Then(clientv3.OpPut("app/y", "1")).Commit()
	say("alice's txn comparing a key outside app/: %s typed=%v", errText(err), err == rpctypes.ErrPermissionDenied)
	_, err = as.UserAdd(ctx, "mallory", "pw")
	say("alice adds a user: %s typed=%v", errText(err), err == rpctypes.ErrPermissionDenied)
	_, err = connectAs(endpoints, "alice", "wrong")
	say("alice with a wrong password: %s typed=%v", errText(err), err == rpctypes.ErrAuthFailed)

	rs, err := connectAs(endpoints, "root", "rootpw")
	if err != nil {
		say("root connects: %s", errText(err))
		return
	}
	defer rs.Close()
	ul, err := rs.UserList(ctx)
	say("root lists users: %s %v", errText(err), ul.Users)
	ug, err := rs.UserGet(ctx, "alice")
	say("root gets alice: %s roles %v", errText(err), ug.Roles)
	rg, err := rs.RoleGet(ctx, "app")
	perms := []string{}
	for _, p := range rg.Perm {
		perms = append(perms, fmt.Sprintf("%s [%s, %s)", p.PermType, p.Key, p.RangeEnd))
	}
	say("root gets role app: %s %v", errText(err), perms)
	_, err = rs.UserRevokeRole(ctx, "alice", "app")
	say("root revokes app from alice: %s", errText(err))
	_, err = as.Put(ctx, "app/x", "after the revoke")
	say("alice puts app/x after the revoke: %s typed=%v", errText(err), err == rpctypes.ErrPermissionDenied)
	_, err = rs.AuthDisable(ctx)
	say("auth disable: %s", errText(err))
	r, err = c.Put(ctx, "app/x", "anonymous again")
	say("anonymous put with auth off: %s rev %d", errText(err), r.Header.Revision)
}
