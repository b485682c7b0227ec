// The dashboard's static files at /ui/ (built from ui/ by scripts/build-ui.mjs into dist/ui/).
// Two documented routes: GET /ui (the page; /ui without the slash redirects so the page's
// relative URLs resolve) and GET /ui/{path} (its script, styles and licence notice). Nothing
// else is private to the UI: the page talks to the same /v1 API as every other client.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Express, Request, Response } from 'express';

/** dist/ui/ seen from this module in src/http/ (run through tsx) or in dist/src/http/ (compiled). */
const CANDIDATES = ['../../dist/ui/', '../../ui/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));

/** The built dashboard's folder, or null when it has not been built. */
export function findUiDir(candidates: readonly string[] = CANDIDATES): string | null {
  return candidates.find((dir) => existsSync(`${dir}/index.html`)) ?? null;
}

/**
 * The page may load only its own files and talk only to this origin, so a value shown in the key
 * browser cannot pull in or send anything elsewhere even if it got past the escaping.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // Revalidate every time: the file names do not change between builds.
  'Cache-Control': 'no-cache',
};

export interface UiRouteOptions {
  /** Where the built files are; default: found next to this module (findUiDir). */
  dir?: string | null;
  /** Answers a failure in the API's JSON envelope. */
  sendError(res: Response, httpStatus: number, code: number, message: string): void;
  notFoundCode: number;
  unavailableCode: number;
}

export function mountUi(app: Express, opts: UiRouteOptions): void {
  let dir = opts.dir === undefined ? findUiDir() : opts.dir;
  const serve = (file: string, req: Request, res: Response): void => {
    // Built after the server started (npm run build while it runs): look again.
    if (dir === null && opts.dir === undefined) dir = findUiDir();
    if (dir === null) {
      opts.sendError(res, 503, opts.unavailableCode, 'the dashboard is not built: run `npm run build` (npm ci does it)');
      return;
    }
    res.set(SECURITY_HEADERS);
    // `root` confines the file to the folder (`..` is refused), dotfiles are not served.
    res.sendFile(file, { root: dir, dotfiles: 'deny' }, (err?: Error & { status?: number; statusCode?: number }) => {
      if (!err || res.headersSent) return;
      const status = err.status ?? err.statusCode ?? 500;
      if (status === 404 || status === 403) opts.sendError(res, 404, opts.notFoundCode, `no dashboard file: ${req.path}`);
      else opts.sendError(res, 500, 13, 'internal error');
    });
  };
  app.get('/ui', (req, res) => {
    if (!req.path.endsWith('/')) {
      // Relative, so it also holds behind a proxy that mounts the node under a path.
      res.redirect(301, 'ui/');
      return;
    }
    serve('index.html', req, res);
  });
  app.get('/ui/*path', (req, res) => {
    const raw = (req.params as Record<string, string | string[] | undefined>).path;
    serve(Array.isArray(raw) ? raw.join('/') : (raw ?? ''), req, res);
  });
}
