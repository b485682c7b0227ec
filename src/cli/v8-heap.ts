// The Node.js/V8 flags every launcher of the server passes: bin/placement-center.js's shebang (what
// npm's `placement-center` command runs), the image's entrypoint (deploy/Dockerfile), `npm start`
// (scripts/start-cluster.js) and the test and bench clusters (test/support/cluster.ts); a test
// keeps them in step. They must be on node's command line: V8 sizes its young generation when the
// heap is created, so the server cannot set them for itself.
//
// Why: left alone, V8 grows each of the two semi-spaces of a busy node to 16 MiB and the old
// generation by up to 4× its live size between collections, so a node's RSS was dominated by heap
// it did not need (bench:memory). A request's garbage lives for well under a millisecond, so a
// 4 MiB semi-space scavenges it as cheaply; a 50% growth step keeps the old generation within
// 1.5× of what survives.
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=50'];
