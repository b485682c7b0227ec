#!/usr/bin/env node
// Runs the compiled CLI (built by `npm ci` through the `prepare` script, or `npm run build`).
import('../dist/src/cli/ctl.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('placement-ctl: dist/ is missing; run `npm ci` (or `npm run build`) in the checkout first');
    process.exit(1);
  }
  throw err;
});
