package main

// Failover: clientv3 given every member writes FAILOVER_PUTS keys one after another while a
// watch (WithRequireLeader, as Kubernetes' watches run) follows their prefix; the test kills a
// member part-way and starts it again. The client must carry on by itself (its balancer moves to
// a live member, its watch resumes elsewhere from the last revision it delivered), and what it
// saw must be consistent: watch events in strictly increasing revisions with no duplicate, every
// acknowledged put among them at its acknowledged revision, and every acknowledged key in a
// final read. After each acknowledged put a linearizable read of its key must see it. A session
// (a lease clientv3 keeps alive, with an ephemeral key) must outlive the fault. A put that failed
// is indeterminate (it may have been applied) and is not checked.
// "progress N" lines after every 50 puts let the test time its faults.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

// The session's TTL in seconds (etcd's and our minimum is 2).
const sessionTTL = 3

func failover(endpoints []string) {
	n := 300
	if v, err := strconv.Atoi(os.Getenv("FAILOVER_PUTS")); err == nil && v > 0 {
		n = v
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer c.Close()
	bg := context.Background()
	start, err := c.Get(bg, "f/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		fmt.Fprintln(os.Stderr, "first read:", err)
		os.Exit(1)
	}

	// A session (a lease kept alive by clientv3 in the background) with an ephemeral key: both
	// must outlive the fault.
	session, err := concurrency.NewSession(c, concurrency.WithTTL(sessionTTL))
	if err != nil {
		fmt.Fprintln(os.Stderr, "session:", err)
		os.Exit(1)
	}
	if _, err := c.Put(bg, "f-session", "alive", clientv3.WithLease(session.Lease())); err != nil {
		fmt.Fprintln(os.Stderr, "session key:", err)
		os.Exit(1)
	}

	var mu sync.Mutex
	seen := map[int64]string{} // revision -> key
	lastRev := start.Header.Revision
	ordered := true
	watchErrors := 0
	wctx, stop := context.WithCancel(clientv3.WithRequireLeader(bg))
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wr := range c.Watch(wctx, "f/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision+1)) {
			if wr.Err() != nil {
				mu.Lock()
				watchErrors++
				mu.Unlock()
				continue
			}
			mu.Lock()
			for _, e := range wr.Events {
				if e.Kv.ModRevision <= lastRev {
					ordered = false
				}
				lastRev = e.Kv.ModRevision
				seen[e.Kv.ModRevision] = string(e.Kv.Key)
			}
			mu.Unlock()
		}
	}()

	acked := map[string]int64{}
	failed := 0
	getOk, getFailed, stale := 0, 0, 0
	errs := map[string]int{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("f/%04d", i)
		pctx, cancel := context.WithTimeout(bg, 5*time.Second)
		r, err := c.Put(pctx, key, "v")
		cancel()
		if err == nil {
			acked[key] = r.Header.Revision
			// A linearizable read after the acknowledged write, on whichever member the balancer
			// picks: it must see the write (at its revision or later), never an older state.
			gctx, gcancel := context.WithTimeout(bg, 5*time.Second)
			g, gerr := c.Get(gctx, key)
			gcancel()
			switch {
			case gerr != nil:
				getFailed++
				errs["get: "+gerr.Error()]++
			case len(g.Kvs) != 1 || g.Kvs[0].ModRevision != r.Header.Revision:
				stale++
			default:
				getOk++
			}
		} else {
			failed++
			errs[err.Error()]++
		}
		if (i+1)%50 == 0 {
			fmt.Printf("progress %d\n", i+1)
		}
		time.Sleep(10 * time.Millisecond)
	}

	var maxAcked int64
	for _, rev := range acked {
		if rev > maxAcked {
			maxAcked = rev
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		caughtUp := lastRev >= maxAcked
		mu.Unlock()
		if caughtUp || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done

	mu.Lock()
	missing := 0
	for key, rev := range acked {
		if seen[rev] != key {
			missing++
		}
	}
	mu.Unlock()
	var final *clientv3.GetResponse
	for attempt := 0; attempt < 50; attempt++ {
		rctx, cancel := context.WithTimeout(bg, 5*time.Second)
		final, err = c.Get(rctx, "f/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		cancel()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	present := map[string]bool{}
	if final != nil {
		for _, kv := range final.Kvs {
			present[string(kv.Key)] = true
		}
	}
	absent := 0
	for key := range acked {
		if !present[key] {
			absent++
		}
	}
	fmt.Printf("puts %d acknowledged %d failed %d\n", n, len(acked), failed)
	fmt.Printf("reads after acknowledged puts: ok %d failed %d stale %d\n", getOk, getFailed, stale)
	for e, k := range errs {
		fmt.Printf("put error x%d: %s\n", k, e)
	}
	fmt.Printf("watch: events in increasing revisions, no duplicate: %v\n", ordered)
	fmt.Printf("watch: acknowledged puts not seen at their revision: %d\n", missing)
	fmt.Printf("watch: errors delivered to the caller: %d\n", watchErrors)
	fmt.Printf("read: acknowledged keys absent: %d (read ok %v)\n", absent, final != nil)
	// Long enough after the fault that a lease whose keep-alives stopped then would be gone.
	time.Sleep((sessionTTL + 1) * time.Second)
	alive := true
	select {
	case <-session.Done():
		alive = false
	default:
	}
	sk, err := c.Get(bg, "f-session")
	fmt.Printf("session: alive %v, its key present %v\n", alive, err == nil && len(sk.Kvs) == 1 && clientv3.LeaseID(sk.Kvs[0].Lease) == session.Lease())
}
