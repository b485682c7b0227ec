#!/usr/bin/env node
// Container HEALTHCHECK: exits 0 when the node's GET /readyz answers 200 (has a leader, has
// applied its committed entries, storage writable), 1 otherwise. Needs nothing but node.
// The address comes from PLACEMENT_HEALTHCHECK_URL, else from PLACEMENT_HTTP (a wildcard listen
// address is probed on loopback), else the default admin port 1227.
const DEFAULT_HTTP = '127.0.0.1:1227';

function readyzUrl(env) {
  if (env.PLACEMENT_HEALTHCHECK_URL) return env.PLACEMENT_HEALTHCHECK_URL;
  const http = env.PLACEMENT_HTTP === undefined ? DEFAULT_HTTP : env.PLACEMENT_HTTP;
  if (http === '' || http === 'off') return null;
  const colon = http.lastIndexOf(':');
  let host = http.slice(0, colon);
  const port = http.slice(colon + 1);
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '[::1]';
  return `http://${host}:${port}/readyz`;
}

async function main() {
  const url = readyzUrl(process.env);
  if (url === null) {
    console.log('healthcheck: the admin HTTP server is disabled (PLACEMENT_HTTP is empty or off); nothing to probe');
    return 0;
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2500) });
    const body = await res.text();
    console.log(`healthcheck: ${url} -> ${res.status} ${body.slice(0, 500)}`);
    return res.status === 200 ? 0 : 1;
  } catch (err) {
    console.log(`healthcheck: ${url} -> ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

main().then((code) => process.exit(code), () => process.exit(1));
