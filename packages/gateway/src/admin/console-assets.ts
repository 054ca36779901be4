import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One static file of the console, held in memory. */
export interface ConsoleAsset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong ETag of the body. */
  readonly etag: string;
}

/** The console's built files by name (`index.html`, `console.js`, `console.css`, …), or why there are none. */
export type ConsoleAssets = { readonly ok: true; readonly files: ReadonlyMap<string, ConsoleAsset> } | { readonly ok: false; readonly problem: string };

/**
 * Where `pnpm build` puts the console's files (packages/gateway/dist/console), seen from
 * `src/admin` (tests) and from `dist/admin` (the built package) — or, in the standalone CLI,
 * `console/` beside the bundle.
 */
export const DEFAULT_CONSOLE_ASSETS_DIR = ((): string => {
  const packaged = fileURLToPath(new URL('../../dist/console/', import.meta.url));
  const beside = fileURLToPath(new URL('./console/', import.meta.url));
  return !existsSync(join(packaged, 'index.html')) && existsSync(join(beside, 'index.html')) ? beside : packaged;
})();

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Reads the console's built files once, into memory: the admin API serves only these names
 * (nothing from the disk on request, so no path can reach another file). When the console
 * was not built, says so, and how to build it.
 */
export async function loadConsoleAssets(dir: string = DEFAULT_CONSOLE_ASSETS_DIR): Promise<ConsoleAssets> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { ok: false, problem: `the approvals console is not built (${dir} is missing): run \`pnpm build\`` };
  }
  const files = new Map<string, ConsoleAsset>();
  for (const name of names) {
    const contentType = TYPES[extname(name)];
    if (!contentType || !/^[a-z0-9][a-z0-9.-]*$/.test(name)) continue;
    const body = await readFile(join(dir, name));
    files.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  if (!files.has('index.html') || !files.has('console.js')) return { ok: false, problem: `the approvals console in ${dir} is incomplete (index.html or console.js is missing): run \`pnpm build\`` };
  return { ok: true, files };
}
