// Test helper: headless Chromium (Debian's /usr/bin/chromium, `apt-get install -y chromium`;
// CHROMIUM_PATH overrides) driven by puppeteer-core, which downloads no browser. Records every
// request a page makes so a test can check each against the node's /v1/openapi.json, collects
// uncaught page errors, and saves screenshots under reports/ui/ (git-ignored).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { REPO_ROOT } from '../support/cluster.js';

export const SCREENSHOTS = join(REPO_ROOT, 'reports', 'ui');

/** Builds dist/ui/ from ui/ (a no-op on disk when it is current), so the test serves this source. */
export async function buildUi(): Promise<void> {
  await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts', 'build-ui.mjs')], { cwd: REPO_ROOT });
}

export interface Recorded {
  method: string;
  url: string;
}

export interface BrowserSession {
  browser: Browser;
  page: Page;
  /** Every request the page made (documents, scripts, fetches), in order. */
  requests: Recorded[];
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<BrowserSession> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'placement-chromium-'));
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    // Root in a container: no sandbox. The rest keeps Chromium from reaching out to the network
    // (there is none here, and refused connections pile up otherwise).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1366, height: 860 });
  const requests: Recorded[] = [];
  const pageErrors: string[] = [];
  page.on('request', (r) => requests.push({ method: r.method(), url: r.url() }));
  page.on('pageerror', (e) => pageErrors.push(String((e as Error).message ?? e)));
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    browser,
    page,
    requests,
    pageErrors,
    screenshot: async (name) => {
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
    },
    close: async () => {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

type Paths = Record<string, Record<string, unknown>>;

/**
 * The requests that are not operations of the OpenAPI document: another origin, or a method and
 * path no documented operation matches (a {key} parameter may hold slashes, as the API allows).
 */
export function undocumented(requests: Recorded[], origin: string, paths: Paths): string[] {
  const ops = Object.entries(paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((m) => ({
      method: m.toUpperCase(),
      re: new RegExp(
        '^' +
          path
            .split(/(\{[^}]+\})/)
            .map((part) => (part === '{key}' || part === '{path}' ? '.+' : /^\{.+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
            .join('') +
          '/?$',
      ),
    })),
  );
  const bad: string[] = [];
  for (const r of requests) {
    if (r.url.startsWith('data:')) continue;
    const u = new URL(r.url);
    if (u.origin !== origin) {
      bad.push(`${r.method} ${r.url} (another origin)`);
      continue;
    }
    if (!ops.some((o) => o.method === r.method && o.re.test(u.pathname))) bad.push(`${r.method} ${u.pathname}`);
  }
  return [...new Set(bad)];
}
