package main

// etcd's server-side lock and election services (v3lockpb.Lock, v3electionpb.Election), called
// directly through their generated gRPC clients on clientv3's connection: the server keeps the
// lock and election keys itself (a key per lease under the name, the oldest one holds it), so
// a lock or an election here is one RPC that blocks until it is won.
//
// Lease ids differ between servers, so they never reach the transcript: a lease is printed as a
// label (<lease A>) and a lock or leader key, <name>/<lease id in lowercase hex>, with its hex
// replaced by that label. Errors are printed as the gRPC code and message.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
	"google.golang.org/grpc/status"
)

// leaseLabels names the leases the section knows of.
type leaseLabels map[int64]string

func (l leaseLabels) lease(id int64) string {
	if id == 0 {
		return "no lease"
	}
	if name, ok := l[id]; ok {
		return "<" + name + ">"
	}
	return "<a lease not granted here>"
}

// key prints <name>/<hex> with the hex replaced by the lease's label; a last segment that is not
// a lease id in lowercase hex without leading zeros says so instead.
func (l leaseLabels) key(k []byte) string {
	s := string(k)
	i := strings.LastIndex(s, "/")
	if i < 0 {
		return s
	}
	id, err := strconv.ParseInt(s[i+1:], 16, 64)
	if err != nil || fmt.Sprintf("%x", id) != s[i+1:] {
		return s[:i+1] + "<not a lease id in hex>"
	}
	return s[:i+1] + l.lease(id)
}

func (l leaseLabels) leaderKey(k *v3electionpb.LeaderKey) string {
	if k == nil {
		return "no leader key"
	}
	return fmt.Sprintf("[name %s key %s rev %d lease %s]", k.Name, l.key(k.Key), k.Rev, l.lease(k.Lease))
}

func (l leaseLabels) kv(kv *mvccpb.KeyValue) string {
	if kv == nil {
		return "no kv"
	}
	return fmt.Sprintf("%s=%q c%d m%d v%d lease %s", l.key(kv.Key), kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, l.lease(kv.Lease))
}

// rpcErr is "ok" or the gRPC status code and message of err.
func rpcErr(err error) string {
	if err == nil {
		return "ok"
	}
	return fmt.Sprintf("error: %s %q", status.Code(err), status.Convert(err).Message())
}

// awaitEvent waits up to 5 s for an event of kind t on key; its (mod) revision, or 0 if none came.
func awaitEvent(wch clientv3.WatchChan, t mvccpb.Event_EventType, key string) int64 {
	timeout := time.After(5 * time.Second)
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				return 0
			}
			for _, e := range wr.Events {
				if e.Type == t && string(e.Kv.Key) == key {
					return e.Kv.ModRevision
				}
			}
		case <-timeout:
			return 0
		}
	}
}

func count(g *clientv3.GetResponse) int {
	if g == nil {
		return -1
	}
	return len(g.Kvs)
}

type lockResult struct {
	r   *v3lockpb.LockResponse
	err error
}

type campaignResult struct {
	r   *v3electionpb.CampaignResponse
	err error
}

type observed struct {
	r   *v3electionpb.LeaderResponse
	err error
}

func lockElectionServices(ctx context.Context, c *clientv3.Client) {
	lc := v3lockpb.NewLockClient(c.ActiveConnection())
	ec := v3electionpb.NewElectionClient(c.ActiveConnection())
	labels := leaseLabels{}
	ga, err := c.Grant(ctx, 60)
	if err != nil {
		say("lock service: grant lease A: %s", errText(err))
		return
	}
	gb, err := c.Grant(ctx, 60)
	if err != nil {
		say("lock service: grant lease B: %s", errText(err))
		return
	}
	a, b := int64(ga.ID), int64(gb.ID)
	labels[a], labels[b] = "lease A", "lease B"
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()

	// Uncontended, with a lease of ours.
	l, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("svc-lock/one"), Lease: a})
	say("lock service: A locks svc-lock/one: %s key %s rev %d", rpcErr(err), labels.key(l.GetKey()), l.GetHeader().GetRevision())
	g, err := c.Get(ctx, string(l.GetKey()))
	if err == nil && len(g.Kvs) == 1 {
		say("lock service: the lock key: %s", labels.kv(g.Kvs[0]))
	} else {
		say("lock service: the lock key: %s count %d", errText(err), count(g))
	}
	u, err := lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: l.GetKey()})
	say("lock service: A unlocks: %s rev %d", rpcErr(err), u.GetHeader().GetRevision())

	// Lease 0: the server grants a lease of its own (and does not keep it alive).
	l, err = lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("svc-lock/zero")})
	key := string(l.GetKey())
	if id, perr := strconv.ParseInt(key[strings.LastIndex(key, "/")+1:], 16, 64); perr == nil && strings.HasPrefix(key, "svc-lock/zero/") {
		ttl, terr := c.TimeToLive(ctx, clientv3.LeaseID(id))
		if terr == nil && ttl.GrantedTTL > 0 {
			labels[id] = fmt.Sprintf("the server's lease granted ttl %d", ttl.GrantedTTL)
		}
		say("lock service: lock svc-lock/zero with lease 0: %s key %s rev %d", rpcErr(err), labels.key(l.GetKey()), l.GetHeader().GetRevision())
		g, err = c.Get(ctx, key)
		if err == nil && len(g.Kvs) == 1 {
			say("lock service: the lock key: %s", labels.kv(g.Kvs[0]))
		}
		u, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: l.GetKey()})
		say("lock service: unlock it: %s rev %d", rpcErr(err), u.GetHeader().GetRevision())
		_, err = c.Revoke(ctx, clientv3.LeaseID(id))
		say("lock service: revoke the server's lease: %s", errText(err))
	} else {
		say("lock service: lock svc-lock/zero with lease 0: %s key %q is not svc-lock/zero/<hex>", rpcErr(err), key)
	}

	// Contended: B's Lock blocks until A unlocks.
	l, err = lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("svc-lock/two"), Lease: a})
	say("lock service: A locks svc-lock/two: %s key %s rev %d", rpcErr(err), labels.key(l.GetKey()), l.GetHeader().GetRevision())
	keyA := l.GetKey()
	keyB := fmt.Sprintf("svc-lock/two/%x", b)
	wch := c.Watch(wctx, "svc-lock/two/", clientv3.WithPrefix(), clientv3.WithRev(l.GetHeader().GetRevision()+1))
	bDone := make(chan lockResult, 1)
	go func() {
		r, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("svc-lock/two"), Lease: b})
		bDone <- lockResult{r, err}
	}()
	put := awaitEvent(wch, mvccpb.PUT, keyB)
	blocked := len(bDone) == 0
	say("lock service: B locks svc-lock/two: its key %s put at rev %d, B still waits %v", labels.key([]byte(keyB)), put, blocked)
	u, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: keyA})
	say("lock service: A unlocks svc-lock/two: %s rev %d", rpcErr(err), u.GetHeader().GetRevision())
	select {
	case res := <-bDone:
		say("lock service: then B's lock returns: %s key %s rev %d", rpcErr(res.err), labels.key(res.r.GetKey()), res.r.GetHeader().GetRevision())
		u, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: res.r.GetKey()})
		say("lock service: B unlocks: %s rev %d", rpcErr(err), u.GetHeader().GetRevision())
	case <-time.After(5 * time.Second):
		say("lock service: B's lock still waits 5 s after A's unlock")
	}

	_, err = lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("svc-lock/none"), Lease: 0x1234})
	say("lock service: lock with a lease that does not exist: %s", rpcErr(err))
	u, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: []byte("svc-lock/none/1234")})
	say("lock service: unlock a key that does not exist: %s rev %d", rpcErr(err), u.GetHeader().GetRevision())

	// A waiter whose client gives up after 300 ms: the server removes its key. The client cancels
	// (no deadline goes to the server), so the error is always the client's own.
	l, err = lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("svc-lock/three"), Lease: a})
	say("lock service: A locks svc-lock/three: %s rev %d", rpcErr(err), l.GetHeader().GetRevision())
	keyA = l.GetKey()
	keyB = fmt.Sprintf("svc-lock/three/%x", b)
	wch = c.Watch(wctx, "svc-lock/three/", clientv3.WithPrefix(), clientv3.WithRev(l.GetHeader().GetRevision()+1))
	short, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(300*time.Millisecond, cancel)
	bDone = make(chan lockResult, 1)
	go func() {
		r, err := lc.Lock(short, &v3lockpb.LockRequest{Name: []byte("svc-lock/three"), Lease: b})
		bDone <- lockResult{r, err}
	}()
	put = awaitEvent(wch, mvccpb.PUT, keyB)
	res := <-bDone
	timer.Stop()
	cancel()
	say("lock service: B waits for svc-lock/three, cancelled after 300 ms: key %s put at rev %d, then %s", labels.key([]byte(keyB)), put, rpcErr(res.err))
	del := awaitEvent(wch, mvccpb.DELETE, keyB)
	g, err = c.Get(ctx, keyB)
	say("lock service: the server deletes the waiter's key: at rev %d, gone %v", del, err == nil && count(g) == 0)
	u, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: keyA})
	say("lock service: A unlocks svc-lock/three: %s rev %d", rpcErr(err), u.GetHeader().GetRevision())

	// Election: A leads, B campaigns behind it, A proclaims and resigns while an observer watches.
	name := []byte("svc-elect/one")
	cr, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: a, Value: []byte("a")})
	say("election service: A campaigns: %s leader %s header rev %d", rpcErr(err), labels.leaderKey(cr.GetLeader()), cr.GetHeader().GetRevision())
	leaderA := cr.GetLeader()
	lr, err := ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	say("election service: leader: %s %s rev %d", rpcErr(err), labels.kv(lr.GetKv()), lr.GetHeader().GetRevision())

	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs := make(chan observed, 16)
	stream, err := ec.Observe(octx, &v3electionpb.LeaderRequest{Name: name})
	if err != nil {
		obs <- observed{nil, err}
	} else {
		go func() {
			for {
				r, err := stream.Recv()
				obs <- observed{r, err}
				if err != nil {
					return
				}
			}
		}()
	}
	next := func() string {
		select {
		case o := <-obs:
			if o.err != nil {
				return rpcErr(o.err)
			}
			kv := o.r.GetKv()
			if kv == nil {
				return "a message without a kv"
			}
			return fmt.Sprintf("%s=%q m%d", labels.key(kv.Key), kv.Value, kv.ModRevision)
		case <-time.After(5 * time.Second):
			return "nothing in 5 s"
		}
	}
	say("election service: observe: %s", next())

	keyB = fmt.Sprintf("svc-elect/one/%x", b)
	wch = c.Watch(wctx, "svc-elect/one/", clientv3.WithPrefix(), clientv3.WithRev(cr.GetHeader().GetRevision()+1))
	won := make(chan campaignResult, 1)
	go func() {
		r, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: b, Value: []byte("b")})
		won <- campaignResult{r, err}
	}()
	put = awaitEvent(wch, mvccpb.PUT, keyB)
	say("election service: B campaigns: its key %s put at rev %d, B still waits %v", labels.key([]byte(keyB)), put, len(won) == 0)
	pr, err := ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: leaderA, Value: []byte("a2")})
	say("election service: A proclaims a2: %s rev %d", rpcErr(err), pr.GetHeader().GetRevision())
	say("election service: observe: %s", next())
	rr, err := ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: leaderA})
	say("election service: A resigns: %s rev %d", rpcErr(err), rr.GetHeader().GetRevision())
	say("election service: observe: %s", next())
	var leaderB *v3electionpb.LeaderKey
	select {
	case res := <-won:
		leaderB = res.r.GetLeader()
		say("election service: then B's campaign returns: %s leader %s header rev %d", rpcErr(res.err), labels.leaderKey(leaderB), res.r.GetHeader().GetRevision())
	case <-time.After(5 * time.Second):
		say("election service: B's campaign still waits 5 s after A's resignation")
	}
	ocancel()
	say("election service: observe after its cancel: %s", next())

	// The leader campaigns again with another value: the server proclaims it.
	cr, err = ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: b, Value: []byte("b2")})
	say("election service: B campaigns again with b2: %s leader %s header rev %d", rpcErr(err), labels.leaderKey(cr.GetLeader()), cr.GetHeader().GetRevision())
	lr, err = ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	say("election service: leader: %s %s rev %d", rpcErr(err), labels.kv(lr.GetKv()), lr.GetHeader().GetRevision())

	_, err = ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Value: []byte("x")})
	say("election service: proclaim without a leader key: %s", rpcErr(err))
	_, err = ec.Resign(ctx, &v3electionpb.ResignRequest{})
	say("election service: resign without a leader key: %s", rpcErr(err))
	if leaderB != nil {
		stale := *leaderB
		stale.Rev = leaderB.Rev + 1000
		_, err = ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: &stale, Value: []byte("stale")})
		say("election service: proclaim with a stale leader key: %s", rpcErr(err))
		rr, err = ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: &stale})
		say("election service: resign with a stale leader key: %s rev %d", rpcErr(err), rr.GetHeader().GetRevision())
		lr, err = ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
		say("election service: leader after both: %s %s", rpcErr(err), labels.kv(lr.GetKv()))
	}
	_, err = ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: []byte("svc-elect/nobody")})
	say("election service: leader of a name nobody leads: %s", rpcErr(err))
	short, cancel = context.WithCancel(ctx)
	timer = time.AfterFunc(300*time.Millisecond, cancel)
	quiet, err := ec.Observe(short, &v3electionpb.LeaderRequest{Name: []byte("svc-elect/nobody")})
	if err == nil {
		var r *v3electionpb.LeaderResponse
		r, err = quiet.Recv()
		if r != nil {
			say("election service: observe a name nobody leads: a message %s", labels.kv(r.GetKv()))
		}
	}
	timer.Stop()
	cancel()
	say("election service: observe a name nobody leads, cancelled after 300 ms: %s", rpcErr(err))

	if leaderB != nil {
		rr, err = ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: leaderB})
		say("election service: B resigns: %s rev %d", rpcErr(err), rr.GetHeader().GetRevision())
	}
	_, err = c.Revoke(ctx, ga.ID)
	say("lock and election services: revoke lease A: %s", errText(err))
	_, err = c.Revoke(ctx, gb.ID)
	say("lock and election services: revoke lease B: %s", errText(err))
	g, err = c.Get(ctx, "svc-", clientv3.WithPrefix())
	if err != nil {
		say("lock and election services: keys left under svc-: %s", errText(err))
		return
	}
	say("lock and election services: keys left under svc-: count %d rev %d", len(g.Kvs), g.Header.Revision)
}
