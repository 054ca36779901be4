import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './fixtures.js';

/** The Debian chromium the tests drive (`.ci/run` installs it); no browser is ever downloaded. */
export const CHROMIUM = process.env.TOLLGATE_CHROMIUM ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Where the tests write the console's screenshots for docs/approvals.md. */
export const DOCS_IMAGES = resolve(ROOT, 'docs/images');

/** A real Chromium with a fresh profile, and what its pages did. */
export interface ConsoleBrowser {
  readonly context: BrowserContext;
  /** Every URL any page requested. */
  readonly requests: string[];
  /** Every console error any page logged (a CSP violation is one). */
  readonly errors: string[];
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/** Launches Chromium headless on a fresh user-data-dir. */
export async function launchConsoleBrowser(): Promise<ConsoleBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'tollgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const errors: string[] = [];
  const watch = (page: Page): void => {
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
  };
  context.on('page', watch);
  for (const page of context.pages()) watch(page);
  return {
    context,
    requests,
    errors,
    async newPage(viewport) {
      const page = context.pages().find((p) => p.url() === 'about:blank') ?? (await context.newPage());
      if (viewport) await page.setViewportSize(viewport);
      page.setDefaultTimeout(10_000);
      return page;
    },
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Builds the console's page from its source into packages/gateway/dist/console, as `pnpm build` does. */
export async function buildConsolePage(): Promise<void> {
  await promisify(execFile)(process.execPath, [resolve(ROOT, 'packages/gateway/scripts/build-console.mjs')], { cwd: ROOT });
}
