#!/usr/bin/env node
// Runs the compiled server (built by `npm ci` through the `prepare` script, or `npm run build`).
import('../dist/src/cli/server.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('placement-center: dist/ is missing; run `npm ci` (or `npm run build`) in the checkout first');
    process.exit(1);
  }
  throw err;
});
