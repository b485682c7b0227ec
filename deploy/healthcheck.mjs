#!/usr/bin/env node
// Container HEALTHCHECK: exits 0 when the node's GET /readyz answers 200 (has a leader, has
// applied its committed entries, storage writable), 1 otherwise. Needs nothing but node.
// The address comes from PLACEMENT_HEALTHCHECK_URL, else from PLACEMENT_HTTP (a wildcard listen
// address is probed on loopback), else the default admin port 1227. It speaks HTTPS when the
// node does (PLACEMENT_CERT_FILE set and PLACEMENT_HTTP_TLS not "off", or an https:// URL):
// the node's certificate is checked against PLACEMENT_TRUSTED_CA_FILE when set (and the
// system's CAs), and with PLACEMENT_CLIENT_CERT_AUTH the node's own certificate and key are
// presented as the client certificate (make-certs.sh makes member certificates usable so).
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';

const DEFAULT_HTTP = '127.0.0.1:1227';
const truthy = (v) => v === 'true' || v === '1';

export function readyzUrl(env) {
  if (env.PLACEMENT_HEALTHCHECK_URL) return env.PLACEMENT_HEALTHCHECK_URL;
  const http = env.PLACEMENT_HTTP === undefined ? DEFAULT_HTTP : env.PLACEMENT_HTTP;
  if (http === '' || http === 'off') return null;
  const colon = http.lastIndexOf(':');
  let host = http.slice(0, colon);
  const port = http.slice(colon + 1);
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '[::1]';
  const tls = Boolean(env.PLACEMENT_CERT_FILE) && (env.PLACEMENT_HTTP_TLS ?? 'client') !== 'off';
  return `${tls ? 'https' : 'http'}://${host}:${port}/readyz`;
}

function tlsOptions(env) {
  const opts = {};
  if (env.PLACEMENT_TRUSTED_CA_FILE) opts.ca = [...rootCertificates, readFileSync(env.PLACEMENT_TRUSTED_CA_FILE, 'utf8')];
  if (truthy(env.PLACEMENT_CLIENT_CERT_AUTH) && (env.PLACEMENT_HTTP_TLS ?? 'client') === 'client' && env.PLACEMENT_CERT_FILE && env.PLACEMENT_KEY_FILE) {
    opts.cert = readFileSync(env.PLACEMENT_CERT_FILE);
    opts.key = readFileSync(env.PLACEMENT_KEY_FILE);
  }
  return opts;
}

function get(url, env) {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith('https:');
    const req = (secure ? httpsRequest : httpRequest)(url, { timeout: 2500, ...(secure ? tlsOptions(env) : {}) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function main() {
  const url = readyzUrl(process.env);
  if (url === null) {
    console.log('healthcheck: the admin HTTP server is disabled (PLACEMENT_HTTP is empty or off); nothing to probe');
    return 0;
  }
  try {
    const res = await get(url, process.env);
    console.log(`healthcheck: ${url} -> ${res.status} ${res.body.slice(0, 500)}`);
    return res.status === 200 ? 0 : 1;
  } catch (err) {
    console.log(`healthcheck: ${url} -> ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

main().then((code) => process.exit(code), () => process.exit(1));
