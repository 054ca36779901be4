// Builds the standalone `tollgate` CLI into dist/standalone/: one directory that runs with
// nothing but Node 20 — no node_modules, no registry — and is what `pnpm pack` puts in the
// @tollgate/cli tarball (publishConfig.directory). It runs after `tsc` and the manifest.
//
//   dist/standalone/
//     package.json            @tollgate/cli, no dependencies; oclif finds the commands in the bundle
//     oclif.manifest.json     every command's flags and help, so --help loads no command
//     bin/tollgate.js         the executable: checks the Node version, starts the CLI
//     lib/tollgate.js         the CLI's entry (oclif and the error handling)
//     lib/commands/**.js      one file per command, as in dist/commands: oclif finds them the same
//                             way (pattern discovery) and loads only the one that runs
//     lib/hooks/*.js          oclif hooks (command_not_found)
//     lib/git-bundle-check-worker.js   the gateway's bundle verifier thread
//     lib/chunk-*.js          code shared by those entries and code commands load on demand
//     lib/pglite.wasm, pglite.data, initdb.wasm   PGlite (the embedded ledger), read beside its code
//     lib/migrations/*.sql    the ledger's migrations (found beside the code, as in the repository)
//     lib/console/            the approvals console's built files (served by the admin port)
//     lib/node_modules/       packages that cannot be bundled (recheck: it starts itself as a worker)
//     THIRD-PARTY-NOTICES.md  the licences of everything bundled or shipped
//
// See docs/install.md ("The standalone build") for what is bundled and what ships beside it.
import { cp, mkdir, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const cliRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(cliRoot, '..', '..');
const out = join(cliRoot, 'dist', 'standalone');
const lib = join(out, 'lib');
const entries = join(cliRoot, 'dist', '.standalone-entries');
const requireFromCli = createRequire(join(cliRoot, 'package.json'));
const pkg = JSON.parse(await readFile(join(cliRoot, 'package.json'), 'utf8'));

/** Packages that ship beside the bundle in lib/node_modules (with their dependencies), never inside it. */
const BESIDE = [
  // recheck runs its analyser in worker threads it starts from its own files
  // (require.resolve('./synckit-worker')), so it must stay a package on disk. Its native
  // binaries (optional dependencies, 29 MB, one per platform) are left out: it then uses its
  // JavaScript build, on every platform. RECHECK_BIN may name a native binary.
  'recheck',
];
/**
 * Left out of the bundle, and not shipped: optional dependencies loaded only when installed
 * (pg's native binding), and the TypeScript toolchain oclif's loader would use to run `.ts`
 * commands in development — the standalone build runs compiled JavaScript only
 * (settings.enableAutoTranspile is off), and TypeScript alone would be 3.4 MB of its start-up.
 */
const ABSENT = ['pg-native', 'typescript', 'ts-node', 'tsx'];
/** Workspace packages the code imports by name at run time (a worker thread's `import(name)`). */
const RUNTIME_WORKSPACE_MODULES = { '@tollgate/policy': join(repoRoot, 'packages/policy/dist/index.js') };
/** Extra entry points: files code starts by URL beside itself (`new URL('./x.js', import.meta.url)`). */
/** The bundle entry of a workspace package imported by name at run time. */
const moduleEntry = (name) => `${name.replace(/^@tollgate\//, '')}-module`;
const WORKER_ENTRIES = { 'git-bundle-check-worker': join(repoRoot, 'packages/gateway/dist/policy/git-bundle-check-worker.js') };
/**
 * Workspace modules that may still use `import.meta.url` after the rewrite below, and why the
 * standalone layout serves each. Any other module that does stops the build: it reads a file
 * beside itself, and that file must be put beside the bundle (add it here and to the layout).
 */
const IMPORT_META_USERS = {
  'ledger/dist/migration/sql-file-migration-provider.js': 'finds lib/migrations/ beside the bundle',
  'gateway/dist/policy/git-bundle-check-thread.js': 'starts lib/git-bundle-check-worker.js',
  'cli/dist/gateway/demo-runner.js': 'the demo runs inside a clone of the repository',
  'gateway/dist/admin/console-assets.js': 'serves lib/console/ (the approvals console) beside the bundle',
};

const fail = (message) => {
  console.error(`build-standalone: ${message}`);
  process.exit(1);
};

// --- the command map: every compiled command, and the autocomplete plugin's commands ----------
async function walk(dir) {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await walk(path)));
    else if (entry.name.endsWith('.js')) found.push(path);
  }
  return found.sort();
}

/** oclif's ids for the command files under `dir` (bundle/build.js is bundle:build; x/index.js is x), and their entry names. */
async function commandFiles(dir) {
  return (await walk(dir)).map((file) => {
    const path = relative(dir, file).slice(0, -'.js'.length).split(sep);
    const parts = path.at(-1) === 'index' ? path.slice(0, -1) : path;
    return { id: parts.join(':'), file, entry: `commands/${path.join('/')}` };
  });
}

const own = await commandFiles(join(cliRoot, 'dist', 'commands'));
const autocompleteRoot = join(dirname(requireFromCli.resolve('@oclif/plugin-autocomplete')), '..');
const autocomplete = await commandFiles(join(autocompleteRoot, 'lib', 'commands'));
const commands = [...own, ...autocomplete];
const ids = new Set();
for (const { id } of commands) {
  if (ids.has(id)) fail(`two commands have the id "${id}"`);
  ids.add(id);
}
const hooks = pkg.oclif.hooks ?? {};

await rm(out, { recursive: true, force: true });
await rm(entries, { recursive: true, force: true });
await mkdir(entries, { recursive: true });
await mkdir(join(out, 'bin'), { recursive: true });
const lit = (path) => JSON.stringify(path);
await writeFile(join(entries, 'tollgate.js'), `export { runTollgate } from ${lit(join(cliRoot, 'dist', 'cli-main.js'))};\n`);

// --- workspace modules: make their module-relative requires visible to the bundler -------------
const workspaceDist = join(repoRoot, 'packages') + sep;
/** @type {import('esbuild').Plugin} */
const workspaceModules = {
  name: 'tollgate-workspace-modules',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const path = realpathSync(args.path);
      if (!path.startsWith(workspaceDist) || !path.includes(`${sep}dist${sep}`)) return undefined;
      let contents = await readFile(path, 'utf8');
      // `const require = createRequire(import.meta.url)` loads JSON schemas and CommonJS
      // packages relative to the module's own file, which the bundle does not keep: with it
      // removed, those require() calls name their targets and the bundler includes them.
      contents = contents.replace(/^const require = createRequire\(import\.meta\.url\);$/m, '');
      contents = contents.replace(/createRequire\(import\.meta\.url\)\(/g, 'require(');
      const name = relative(join(repoRoot, 'packages'), path).split(sep).join('/');
      if (contents.includes('import.meta.url') && !Object.hasOwn(IMPORT_META_USERS, name)) {
        return {
          errors: [
            {
              text: `${name} uses import.meta.url: the standalone build does not keep files beside this module. Put what it reads beside the bundle in scripts/build-standalone.mjs (IMPORT_META_USERS) — see docs/install.md.`,
            },
          ],
        };
      }
      return { contents, loader: 'js', resolveDir: dirname(path) };
    });
  },
};

const result = await build({
  // Paths in the metafile (for the licence notices) are relative to this package, wherever the script is run from.
  absWorkingDir: cliRoot,
  entryPoints: {
    tollgate: join(entries, 'tollgate.js'),
    ...Object.fromEntries(commands.map((c) => [c.entry, c.file])),
    ...Object.fromEntries(Object.values(hooks).map((target) => [target.replace(/^\.\/dist\//, '').replace(/\.js$/, ''), join(cliRoot, target)])),
    ...WORKER_ENTRIES,
    // A module that finds files beside itself must be in lib/, never inlined into a command's
    // file under lib/commands/: as an entry of its own it is shared, so its code goes to a chunk.
    ...Object.fromEntries(Object.keys(IMPORT_META_USERS).map((name) => [`internal/${name.replace(/\//g, '-').replace(/\.js$/, '')}`, join(repoRoot, 'packages', name)])),
    ...Object.fromEntries(Object.entries(RUNTIME_WORKSPACE_MODULES).map(([name, file]) => [moduleEntry(name), file])),
  },
  outdir: lib,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  // ES module builds first: jsonc-parser's CommonJS build is UMD, whose require() calls the
  // bundler cannot follow.
  mainFields: ['module', 'main'],
  minify: true,
  keepNames: true,
  legalComments: 'none',
  external: [...BESIDE, ...ABSENT],
  // Bundled CommonJS calls require() for Node's own modules and for the packages beside the bundle.
  banner: { js: "import { createRequire as __tollgateCreateRequire } from 'node:module'; const require = __tollgateCreateRequire(import.meta.url);" },
  plugins: [workspaceModules],
  metafile: true,
  logLevel: 'warning',
  logOverride: { 'empty-import-meta': 'silent' },
});

// --- files read beside the bundle ---------------------------------------------------------------
const requireFromLedger = createRequire(join(repoRoot, 'packages/ledger/package.json'));
const pgliteDist = dirname(requireFromLedger.resolve('@electric-sql/pglite'));
for (const file of ['pglite.wasm', 'pglite.data', 'initdb.wasm']) await cp(join(pgliteDist, file), join(lib, file));
await cp(join(repoRoot, 'migrations'), join(lib, 'migrations'), { recursive: true, filter: (p) => !basename(p).startsWith('.') });
await cp(join(repoRoot, 'packages/gateway/dist/console'), join(lib, 'console'), { recursive: true });

// --- packages beside the bundle: copied with their (non-optional) dependencies ----------------
const shipped = new Map();
async function ship(name, from) {
  const requireFrom = createRequire(join(from, 'package.json'));
  let root;
  try {
    root = dirname(requireFrom.resolve(`${name}/package.json`));
  } catch {
    root = join(dirname(requireFrom.resolve(name)), '..');
  }
  root = realpathSync(root);
  if (shipped.has(name)) return;
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  shipped.set(name, { root, manifest });
  const target = join(lib, 'node_modules', ...name.split('/'));
  // The files the package publishes (its `files`), plus package.json and its licence.
  // (npm always publishes the `main` file, listed in `files` or not).
  const published = manifest.files ? [...manifest.files, ...(manifest.main ? [manifest.main] : [])].map((f) => f.replace(/^\.?\//, '').replace(/\/$/, '')) : null;
  await cp(root, target, {
    recursive: true,
    dereference: true,
    filter: (path) => {
      const rel = relative(root, path);
      if (rel === '') return true;
      if (rel.split(sep)[0] === 'node_modules') return false;
      if (/^(package\.json|licen[cs]e|notice)/i.test(rel)) return true;
      if (/\.(map|d\.ts|d\.cts|d\.mts)$/.test(rel)) return false;
      // recheck's browser build is not for Node.
      if (name === 'recheck' && rel === join('lib', 'browser.js')) return false;
      return published === null || published.some((f) => rel === f || rel.startsWith(`${f}${sep}`) || f.startsWith(`${rel}${sep}`));
    },
  });
  for (const dep of Object.keys(manifest.dependencies ?? {})) await ship(dep, root);
}
for (const name of BESIDE) await ship(name, join(repoRoot, 'packages/policy'));

// --- workspace packages imported by name at run time: a stub package re-exporting the bundle ----
for (const name of Object.keys(RUNTIME_WORKSPACE_MODULES)) {
  const dir = join(lib, 'node_modules', ...name.split('/'));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name, version: pkg.version, type: 'module', exports: './index.js' }, null, 2)}\n`);
  // The module is one of the bundle's entries; the stub makes `import(name)` reach it.
  await writeFile(join(dir, 'index.js'), `export * from '${'../'.repeat(name.split('/').length + 1)}${moduleEntry(name)}.js';\n`);
}

// --- package.json, the executable, the manifest ---------------------------------------------------
const standalonePkg = {
  name: pkg.name,
  version: pkg.version,
  description: pkg.description,
  license: pkg.license,
  ...(pkg.repository ? { repository: pkg.repository } : {}),
  ...(pkg.homepage ? { homepage: pkg.homepage } : {}),
  type: 'module',
  engines: pkg.engines,
  bin: { tollgate: './bin/tollgate.js' },
  exports: { './package.json': './package.json' },
  files: ['bin', 'lib', 'oclif.manifest.json', 'THIRD-PARTY-NOTICES.md', 'README.md'],
  oclif: {
    ...pkg.oclif,
    commands: './lib/commands',
    hooks: Object.fromEntries(Object.entries(hooks).map(([event, target]) => [event, target.replace(/^\.\/dist\//, './lib/')])),
    // The autocomplete plugin's commands are bundled under lib/commands/autocomplete/.
    plugins: (pkg.oclif.plugins ?? []).filter((p) => p !== '@oclif/plugin-autocomplete'),
  },
};
if (standalonePkg.oclif.plugins.length > 0) fail(`oclif plugins cannot be loaded from the standalone build: ${standalonePkg.oclif.plugins.join(', ')}`);
delete standalonePkg.oclif.plugins;
await writeFile(join(out, 'package.json'), `${JSON.stringify(standalonePkg, null, 2)}\n`);
await writeFile(
  join(out, 'bin', 'tollgate.js'),
  `#!/usr/bin/env node
// The standalone tollgate CLI (built by packages/cli/scripts/build-standalone.mjs).
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(\`Error: tollgate needs Node.js 20 or later; this is \${process.version}.\\nHint: Install Node.js 20 (https://nodejs.org) and run it again.\\n\`);
  process.exit(2);
}
const { runTollgate } = await import('../lib/tollgate.js');
await runTollgate(import.meta.url);
`,
);
await chmod(join(out, 'bin', 'tollgate.js'), 0o755);
const readme = join(cliRoot, 'README.md');
if (existsSync(readme)) await cp(readme, join(out, 'README.md'));

// The manifest, read from the standalone build itself (its command map), as generate-manifest.mjs does.
const { Plugin, settings } = await import(pathToFileURL(requireFromCli.resolve('@oclif/core')).href);
settings.enableAutoTranspile = false;
const plugin = new Plugin({ root: out, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true });
await plugin.load();
const manifestIds = Object.keys(plugin.manifest.commands);
if (manifestIds.length !== commands.length) fail(`the manifest lists ${manifestIds.length} commands, the bundle ${commands.length}`);
await writeFile(join(out, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 2)}\n`);

// --- licences ---------------------------------------------------------------------------------------
const packages = new Map();
function packageOf(file) {
  let dir = dirname(file);
  while (dir !== dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) return dir;
    dir = dirname(dir);
  }
  return undefined;
}
for (const input of Object.keys(result.metafile.inputs)) {
  const abs = realpathSync(join(cliRoot, input));
  const dir = packageOf(abs);
  if (dir && !dir.startsWith(workspaceDist)) packages.set(dir, true);
}
for (const { root } of shipped.values()) packages.set(root, true);
const notices = [];
for (const dir of [...packages.keys()].sort()) {
  const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  if (!manifest.name) continue;
  const licenceFile = (await readdir(dir)).find((f) => /^licen[cs]e/i.test(f));
  const text = licenceFile ? (await readFile(join(dir, licenceFile), 'utf8')).trim() : `License: ${manifest.license ?? 'see the package'}`;
  notices.push(`## ${manifest.name}@${manifest.version} (${manifest.license ?? 'unknown'})\n\n${text}\n`);
}
const unique = [...new Set(notices)];
await writeFile(join(out, 'THIRD-PARTY-NOTICES.md'), `# Third-party software in the standalone tollgate CLI\n\n${unique.join('\n')}`);

// --- report -------------------------------------------------------------------------------------------
async function size(path) {
  const s = await stat(path);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await size(join(path, entry));
  return total;
}
await rm(entries, { recursive: true, force: true });
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;
console.log(`wrote dist/standalone: ${commands.length} commands, ${unique.length} third-party packages, ${mb(await size(out))} (bundle ${mb((await size(lib)) - (await size(join(lib, 'node_modules'))) - (await size(join(lib, 'pglite.wasm'))) - (await size(join(lib, 'pglite.data'))) - (await size(join(lib, 'initdb.wasm'))))})`);
