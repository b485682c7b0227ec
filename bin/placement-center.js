#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=100 --single-threaded-gc
// (The flags are SERVER_NODE_FLAGS of src/cli/v8-heap.ts: test/cli/v8-heap checks they agree.)
// Runs the compiled server (built by `npm ci` through the `prepare` script, or `npm run build`).
import('../dist/src/cli/server.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('placement-center: dist/ is missing; run `npm ci` (or `npm run build`) in the checkout first');
    process.exit(1);
  }
  throw err;
});
