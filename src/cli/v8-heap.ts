// The Node.js/V8 flags every launcher of the server passes: bin/placement-center.js's shebang (what
// npm's `placement-center` command runs), the image's entrypoint (deploy/Dockerfile), `npm start`
// (scripts/start-cluster.js) and the test and bench clusters (test/support/cluster.ts); a test
// keeps them in step. They must be on node's command line: V8 sizes its young generation when the
// heap is created, so the server cannot set them for itself.
//
// Why: left alone, V8 grows each of the two semi-spaces of a busy node to 16 MiB and the old
// generation by up to 4× its live size between collections, so a node's RSS was dominated by heap
// it did not need (bench:memory). Most of a request's garbage dies young, so a 4 MiB semi-space
// costs no more CPU than 16 MiB (bench:ab, `--max-semi-space-size=16`: 0.99× CPU per write).
//
// The old generation may grow by its live size (100%) between full collections, not by half of
// it: a leader under load promotes ~3-4 KB of request garbage per write (objects alive across two
// scavenges while 64 requests are in flight, and young objects that V8's pretenured allocations
// keep alive until the next full collection), so with a 50% step it ran a mark-compact every
// ~0.6 s (etcd Put at 64 in flight, counted with --trace-gc-nvp), each marking the whole live
// heap. Doubling the step halves how often that happens; the cost is the larger step in RSS.
// Measured with `npm run bench:ab -- --heap-growing-percent=100` (B against 50, 4 paired rounds):
// Put at 64 in flight 1.11× the writes/s at 0.84× the member CPU per write, RSS 1.12×.
//
// The collector runs on the main thread only (--single-threaded-gc: no parallel scavenge, no
// concurrent marking or sweeping threads; marking stays incremental). A member shares its cores
// with the other members, the WAL's fsyncs and LevelDB's threads (three members and a client on
// two cores here), and V8's helper threads then cost more in hand-offs than they save. Measured
// with `npm run bench:ab -- --single-threaded-gc` (B against without, two runs of 4 paired rounds):
// member CPU per operation 0.94-0.96x for Put at 64 in flight (writes/s 1.02-1.04x, p99
// 0.79-0.87x), 0.92-0.94x for Range (p99 0.74-0.97x), unchanged at 1 in flight; RSS 0.92-1.03x.
// The price is memory: `npm run bench:memory` (2 rounds, with and without it) put the largest
// member at 181 MiB against 171-172 (1.05x), for 0.94-0.96x the members' CPU over the same work.
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=100', '--single-threaded-gc'];
