// Reads docker-compose.yml into the few facts the deployment tests need: for each Placement
// Center service its environment, data volume and published ports; for Prometheus its command
// line and bind mounts. Both the structural test and the network-namespace test take the node
// settings from here, so the compose file and what is tested cannot drift apart.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COMPOSE_FILE = resolve(REPO_ROOT, 'docker-compose.yml');
/** The TLS profile, merged over COMPOSE_FILE (`docker compose -f ... -f ...`). */
export const COMPOSE_TLS_FILE = resolve(REPO_ROOT, 'docker-compose.tls.yml');

export interface Mount {
  /** 'volume' for a named volume, 'bind' for a host path (resolved against the repo root). */
  type: 'volume' | 'bind';
  source: string;
  target: string;
  readOnly: boolean;
}

export interface PortMapping {
  published: number;
  target: number;
}

export interface ComposeService {
  name: string;
  raw: Record<string, unknown>;
  environment: Record<string, string>;
  mounts: Mount[];
  ports: PortMapping[];
  command: string[];
  entrypoint: string[];
  networks: string[];
}

export interface ComposeModel {
  raw: Record<string, unknown>;
  services: Map<string, ComposeService>;
  /** Services built from deploy/Dockerfile: the Placement Center nodes, in file order. */
  nodes: ComposeService[];
  prometheus: ComposeService;
  volumes: string[];
  networks: string[];
}

function asRecord(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: expected a mapping`);
  return v as Record<string, unknown>;
}

function parseEnvironment(v: unknown, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined) return out;
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = String(item);
      const eq = s.indexOf('=');
      if (eq <= 0) throw new Error(`${what}: environment entry "${s}" is not NAME=value`);
      out[s.slice(0, eq)] = s.slice(eq + 1);
    }
    return out;
  }
  for (const [k, val] of Object.entries(asRecord(v, `${what}.environment`))) {
    if (typeof val === 'object' && val !== null) throw new Error(`${what}: environment ${k} must be a scalar`);
    out[k] = val === null ? '' : String(val);
  }
  return out;
}

function parseMount(v: unknown, what: string): Mount {
  if (typeof v === 'string') {
    const parts = v.split(':');
    if (parts.length < 2 || parts.length > 3) throw new Error(`${what}: volume "${v}" is not source:target[:mode]`);
    const [source, target, mode] = parts as [string, string, string | undefined];
    const bind = source.startsWith('.') || source.startsWith('/');
    return {
      type: bind ? 'bind' : 'volume',
      source: bind ? resolve(REPO_ROOT, source) : source,
      target,
      readOnly: mode === 'ro',
    };
  }
  const r = asRecord(v, what);
  const type = r.type === 'bind' ? 'bind' : 'volume';
  const source = String(r.source);
  return {
    type,
    source: type === 'bind' ? resolve(REPO_ROOT, source) : source,
    target: String(r.target),
    readOnly: r.read_only === true,
  };
}

function parsePort(v: unknown, what: string): PortMapping {
  if (typeof v === 'string' || typeof v === 'number') {
    const m = /^(?:[\d.]+:)?(\d+):(\d+)(?:\/tcp)?$/.exec(String(v));
    if (!m) throw new Error(`${what}: port "${v}" is not published:target`);
    return { published: Number(m[1]), target: Number(m[2]) };
  }
  const r = asRecord(v, what);
  return { published: Number(r.published), target: Number(r.target) };
}

function parseService(name: string, v: unknown): ComposeService {
  const raw = asRecord(v, `services.${name}`);
  const what = `services.${name}`;
  const command = raw.command === undefined ? [] : Array.isArray(raw.command) ? raw.command.map(String) : String(raw.command).split(/\s+/);
  const entrypoint = raw.entrypoint === undefined ? [] : Array.isArray(raw.entrypoint) ? raw.entrypoint.map(String) : String(raw.entrypoint).split(/\s+/);
  const networks = raw.networks === undefined ? [] : Array.isArray(raw.networks) ? raw.networks.map(String) : Object.keys(asRecord(raw.networks, `${what}.networks`));
  return {
    name,
    raw,
    environment: parseEnvironment(raw.environment, what),
    mounts: ((raw.volumes as unknown[] | undefined) ?? []).map((m, i) => parseMount(m, `${what}.volumes[${i}]`)),
    ports: ((raw.ports as unknown[] | undefined) ?? []).map((p, i) => parsePort(p, `${what}.ports[${i}]`)),
    command,
    entrypoint,
    networks,
  };
}

/** The mount target of a volume entry (short `src:target[:mode]` or long form). */
function mountTarget(v: unknown): string {
  return typeof v === 'string' ? v.split(':')[1] ?? v : String((v as Record<string, unknown>).target);
}

/**
 * Merges an override file over a base, the way `docker compose -f base -f override` does for
 * what these files use: mappings merge key by key (environment, depends_on), volume lists merge
 * by mount target, other lists (command, entrypoint) and scalars are replaced.
 */
function mergeService(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (k === 'volumes' && Array.isArray(b) && Array.isArray(v)) {
      const byTarget = new Map<string, unknown>(b.map((m) => [mountTarget(m), m]));
      for (const m of v) byTarget.set(mountTarget(m), m);
      out[k] = [...byTarget.values()];
    } else if (k === 'depends_on' && b !== undefined) {
      const asMap = (x: unknown): Record<string, unknown> => (Array.isArray(x) ? Object.fromEntries(x.map((n) => [String(n), { condition: 'service_started' }])) : (x as Record<string, unknown>));
      out[k] = { ...asMap(b), ...asMap(v) };
    } else if (typeof b === 'object' && b !== null && !Array.isArray(b) && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      out[k] = { ...(b as Record<string, unknown>), ...(v as Record<string, unknown>) };
    } else {
      out[k] = v;
    }
  }
  return out;
}

export function loadCompose(path: string | string[] = COMPOSE_FILE): ComposeModel {
  // `merge: true` resolves the `<<: *anchor` keys the way docker compose does.
  const files = (Array.isArray(path) ? path : [path]).map((p) => asRecord(parse(readFileSync(p, 'utf8'), { merge: true }), p));
  const raw: Record<string, unknown> = { ...files[0]! };
  for (const over of files.slice(1)) {
    const services = { ...asRecord(raw.services, 'services') };
    for (const [name, v] of Object.entries(asRecord(over.services ?? {}, 'services'))) {
      services[name] = services[name] ? mergeService(asRecord(services[name], name), asRecord(v, name)) : v;
    }
    raw.services = services;
    raw.volumes = { ...asRecord(raw.volumes ?? {}, 'volumes'), ...asRecord(over.volumes ?? {}, 'volumes') };
  }
  const services = new Map<string, ComposeService>();
  for (const [name, v] of Object.entries(asRecord(raw.services, 'services'))) services.set(name, parseService(name, v));
  // Nodes: services of the image that are configured as a member (one-shot helpers of the same
  // image, such as the peer-secret and certs makers, are not).
  const nodes = [...services.values()].filter((s) => {
    const build = s.raw.build;
    const fromImage = typeof build === 'object' && build !== null && (build as Record<string, unknown>).dockerfile === 'deploy/Dockerfile';
    return fromImage && s.environment.PLACEMENT_ID !== undefined;
  });
  const prometheus = [...services.values()].find((s) => String(s.raw.image ?? '').includes('prometheus'));
  if (!prometheus) throw new Error('docker-compose.yml: no Prometheus service (an image named *prometheus*)');
  return {
    raw,
    services,
    nodes,
    prometheus,
    volumes: Object.keys(asRecord(raw.volumes ?? {}, 'volumes')),
    networks: Object.keys(asRecord(raw.networks ?? {}, 'networks')),
  };
}

/** Port of a host:port string. */
export function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}

/** Replaces container paths in a command line by host paths, following the service's bind mounts. */
export function mapContainerPaths(args: string[], mounts: Mount[], extra: Record<string, string> = {}): string[] {
  const table: [string, string][] = [
    ...mounts.filter((m) => m.type === 'bind').map((m) => [m.target, m.source] as [string, string]),
    ...Object.entries(extra),
  ].sort((a, b) => b[0].length - a[0].length);
  return args.map((arg) => {
    for (const [from, to] of table) {
      const i = arg.indexOf(from);
      if (i >= 0 && (i === 0 || arg[i - 1] === '=')) {
        const rest = arg.slice(i + from.length);
        if (rest === '' || rest.startsWith('/')) return arg.slice(0, i) + to + rest;
      }
    }
    return arg;
  });
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  targets?: { expr: string }[];
  gridPos: { x: number; y: number; w: number; h: number };
}

/** Every PromQL expression of deploy/grafana-dashboard.json, with Grafana's variables filled in. */
export function dashboardExpressions(): { title: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(resolve(REPO_ROOT, 'deploy/grafana-dashboard.json'), 'utf8')) as { panels: DashboardPanel[] };
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr.replaceAll('$__rate_interval', '1m') })));
}
