// Builds the approvals console's static files into dist/console (what the admin API serves):
// the page's TypeScript bundled by esbuild into one ES module, the HTML and the stylesheet.
// Run by `pnpm build`; `node scripts/build-console.mjs [outDir]`.
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const consoleDir = resolve(here, '../console');

/** Builds the console into `outDir` (default dist/console), replacing what was there. */
export async function buildConsole(outDir = resolve(here, '../dist/console')) {
  // Built beside, then swapped in: a gateway starting meanwhile never reads half a console.
  const staging = `${outDir}.building-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await build({
    entryPoints: [join(consoleDir, 'src/console-app.ts')],
    outfile: join(staging, 'console.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'console.css', 'favicon.svg']) await copyFile(join(consoleDir, file), join(staging, file));
  await rm(outDir, { recursive: true, force: true });
  await rename(staging, outDir);
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildConsole(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`built the approvals console into ${out}`);
}
