// The one way the dashboard talks to the node: relative URLs (the page is at <node>/ui/, the API
// at <node>/), so it works over HTTP or HTTPS and behind a proxy that mounts the node under a
// path; the {"code","data"} envelope unwrapped into data or an ApiError; and the credentials the
// user signed in with on every request. A 401 asks the app to show the sign-in form.

export class ApiError extends Error {
  constructor(
    /** HTTP status (0: no answer). */
    readonly status: number,
    /** The envelope's code (gRPC status number), 0 when there was none. */
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type Credentials = { kind: 'basic'; user: string; password: string } | { kind: 'bearer'; token: string };

const STORAGE_KEY = 'placement.credentials';
let credentials: Credentials | null = load();
const authListeners = new Set<(why: string) => void>();

function load(): Credentials | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Credentials) : null;
  } catch {
    return null;
  }
}

/** Kept for this browser tab only (sessionStorage), never in the URL. */
export function setCredentials(c: Credentials | null): void {
  credentials = c;
  try {
    if (c) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(c));
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* storage unavailable: keep them in memory */
  }
}

export function currentCredentials(): Credentials | null {
  return credentials;
}

/** Called with the server's message whenever it answers 401. */
export function onAuthRequired(fn: (why: string) => void): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

function authorization(): string | null {
  if (!credentials) return null;
  if (credentials.kind === 'bearer') return `Bearer ${credentials.token}`;
  const bytes = new TextEncoder().encode(`${credentials.user}:${credentials.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

/** `path` is relative to the node's root ("v1/cluster/status"); the page lives one level below it. */
export function apiUrl(path: string, query?: Query): string {
  const url = new URL(`../${path}`, document.baseURI);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  return url.toString();
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Default 10 s. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** The raw Response of a request (after the 401 check); the caller reads the body. */
export async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  const auth = authorization();
  if (auth) headers.authorization = auth;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  const signal = opts.signal ? anySignal([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(apiUrl(path, opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal,
      credentials: 'same-origin',
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError' && opts.signal?.aborted) throw err;
    const why = (err as Error).name === 'TimeoutError' ? 'no answer in time' : 'the node did not answer';
    throw new ApiError(0, 0, `${method} /${path}: ${why}`);
  }
  if (res.status === 401) {
    const message = await errorMessage(res);
    for (const fn of authListeners) fn(message);
    throw new ApiError(401, 16, message);
  }
  return res;
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) c.abort(s.reason);
    else s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: string };
    return body.error ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/** A /v1 call: the envelope's data, or an ApiError with its code and message. */
export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, opts);
  let body: { code?: number; data?: T; error?: string };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiError(res.status, 0, `${method} /${path}: HTTP ${res.status}, not JSON`);
  }
  if (!res.ok || body.code !== 0) throw new ApiError(res.status, body.code ?? 0, body.error ?? `HTTP ${res.status}`);
  return body.data as T;
}

/** A plain JSON document (the OpenAPI document, health checks). */
export async function getJson<T>(path: string, opts: RequestOptions = {}): Promise<{ status: number; body: T }> {
  const res = await send('GET', path, opts);
  return { status: res.status, body: (await res.json()) as T };
}

export async function getText(path: string, opts: RequestOptions = {}): Promise<string> {
  const res = await send('GET', path, { ...opts, headers: { accept: 'text/plain', ...opts.headers } });
  if (!res.ok) throw new ApiError(res.status, 0, `GET /${path}: HTTP ${res.status}`);
  return res.text();
}
