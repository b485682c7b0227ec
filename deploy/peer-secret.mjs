#!/usr/bin/env node
// Makes a Placement Center cluster's peer secret, once: `node peer-secret.mjs <file>` writes 64
// random hex characters to <file> (0600, its directory created 0700) unless the file exists.
// docker-compose.yml runs it before the nodes start, into a volume every node mounts read-only
// (PLACEMENT_PEER_SECRET_FILE). Needs nothing but node.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const file = process.argv[2];
if (!file) {
  console.error('usage: peer-secret.mjs <file>');
  process.exit(2);
}
if (existsSync(file)) {
  console.log(`peer secret: ${file} exists, kept`);
} else {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  console.log(`peer secret: made ${file}`);
}
