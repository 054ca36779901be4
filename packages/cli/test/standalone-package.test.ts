import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_CATALOG, SHOP_POLICY, SHOP_TESTS_FULL } from './policy-fixtures.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const standalone = join(repoRoot, 'packages/cli/dist/standalone');

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function exec(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  return new Promise((done, fail) => {
    const base: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete base['FORCE_COLOR'];
    // Nothing from the workspace: no NODE_PATH, no inherited module resolution.
    delete base['NODE_PATH'];
    delete base['NODE_OPTIONS'];
    // Nor the npm settings pnpm exports to the scripts it runs.
    for (const key of Object.keys(base)) if (/^npm_/i.test(key) && !Object.hasOwn(env, key)) delete base[key];
    execFile(file, args, { cwd, env: base, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return fail(error);
      done({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** A small policy repository: the shop policy, its catalog and tests, and a regex open to ReDoS. */
async function policyRepository(dir: string): Promise<void> {
  const files: Record<string, unknown> = {
    'policies/shop/policy.json': SHOP_POLICY,
    'policies/shop/catalog.json': SHOP_CATALOG,
    'policies/shop/shop.test.json': SHOP_TESTS_FULL,
    'policies/notes/policy.json': { version: '1', default: 'deny', tools: { note: { require: [{ path: 'args.text', op: 'regex', value: '^(a+)+$' }] } } },
  };
  for (const [path, value] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), `${JSON.stringify(value, null, 2)}\n`);
  }
}

/** No node_modules anywhere from `dir` up: what the standalone build finds, it carries. */
function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) found.push(join(d, 'node_modules'));
    if (dirname(d) === d) return found;
  }
}

describe('the standalone tollgate (dist/standalone), copied into a directory with no node_modules around it', () => {
  let scratch: string;
  let bin: string;
  let work: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'tollgate-standalone-'));
    await cp(standalone, join(scratch, 'tollgate'), { recursive: true });
    bin = join(scratch, 'tollgate/bin/tollgate.js');
    work = join(scratch, 'work');
    await mkdir(work);
    await policyRepository(work);
  });
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('has no node_modules above it, and carries only recheck and the worker-thread stub beside the bundle', async () => {
    expect(nodeModulesAbove(work)).toEqual([]);
    expect(nodeModulesAbove(join(scratch, 'tollgate'))).toEqual([]);
    const beside = (await readdir(join(scratch, 'tollgate/lib/node_modules'))).sort();
    expect(beside).toEqual(['@pkgr', '@tollgate', 'recheck', 'synckit', 'tslib']);
    const pkg = JSON.parse(await readFile(join(scratch, 'tollgate/package.json'), 'utf8'));
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.bin).toEqual({ tollgate: './bin/tollgate.js' });
  });

  it("its manifest lists every command of the repository's CLI, with the same flags, plus the bundled autocomplete commands", async () => {
    type Manifest = { version: string; commands: Record<string, { flags: Record<string, unknown> }> };
    const bundled = JSON.parse(await readFile(join(scratch, 'tollgate/oclif.manifest.json'), 'utf8')) as Manifest;
    const repository = JSON.parse(await readFile(join(repoRoot, 'packages/cli/oclif.manifest.json'), 'utf8')) as Manifest;
    expect(bundled.version).toBe(repository.version);
    expect(Object.keys(bundled.commands).sort()).toEqual([...Object.keys(repository.commands), 'autocomplete', 'autocomplete:create', 'autocomplete:script'].sort());
    for (const [id, command] of Object.entries(repository.commands)) expect(Object.keys(bundled.commands[id]!.flags).sort(), id).toEqual(Object.keys(command.flags).sort());
  });

  it('--version, --help (from the manifest) and a command', async () => {
    const version = await exec(bin, ['--version'], work);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^@tollgate\/cli\/0\.1\.0 /);
    const help = await exec(bin, ['--help'], work);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    for (const command of ['lint', 'test', 'diff', 'init', 'gateway', 'autocomplete']) expect(help.stdout).toMatch(new RegExp(`^ {2}${command} {2}`, 'm'));
    const lintHelp = await exec(bin, ['lint', '--help'], work);
    expect(lintHelp.stdout).toContain('--format=<option>');
  });

  it('lint: schema validation and the ReDoS analysis (recheck, beside the bundle) work', async () => {
    const lint = await exec(bin, ['lint', '--format', 'json'], work);
    expect(lint.code).toBe(1);
    const result = JSON.parse(lint.stdout) as { diagnostics: Array<{ code: string; file: string; message: string }> };
    const redos = result.diagnostics.find((d) => d.code === 'TG101');
    expect(redos?.message).toContain('catastrophic backtracking (ReDoS, exponential)');
    expect(result.diagnostics.filter((d) => d.file.includes('shop'))).toEqual([]);
  });

  it('test: runs the cases and prints the summary', async () => {
    const test = await exec(bin, ['test', 'policies/shop', '--coverage'], work);
    expect(test.code).toBe(0);
    expect(test.stdout.trim().split('\n').at(-1)).toBe(`${SHOP_TESTS_FULL.cases.length} passed, 0 failed`);
  });

  it('the embedded ledger: PGlite loads its wasm and data beside the bundle; the migrations are found', async () => {
    const migrate = await exec(bin, ['ledger', 'migrate', '--json'], work);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);
    const applied = JSON.parse(migrate.stdout) as { applied: string[] };
    const shipped = (await readdir(join(repoRoot, 'migrations'))).filter((f) => f.endsWith('.sql')).sort();
    expect(applied.applied).toEqual(shipped);
    const verify = await exec(bin, ['ledger', 'verify', '--json'], work);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout).ok).toBe(true);
  }, 60_000);

  it('an unknown command and a bad flag get our usage errors (the hook is in the bundle)', async () => {
    const command = await exec(bin, ['lnt'], work);
    expect(command.code).toBe(2);
    expect(command.stderr).toBe('Error: "lnt" is not a tollgate command; did you mean "lint"?\nHint: Run `tollgate --help` for the list of commands, or `tollgate <command> --help` for one.\n');
    const flag = await exec(bin, ['test', '--formt', 'junit'], work);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('Error: unknown flag --formt; did you mean --format?');
  });

  it('autocomplete (the plugin, bundled) writes completion functions that know every command and its flags', async () => {
    const home = join(scratch, 'home');
    await mkdir(home);
    const env = { HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    const out = await exec(bin, ['autocomplete', 'bash'], work, env);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('tollgate autocomplete script bash');
    const script = await exec(bin, ['autocomplete', 'script', 'bash'], work, env);
    expect(script.stdout).toContain(`TOLLGATE_AC_BASH_SETUP_PATH=${join(home, '.cache/tollgate/autocomplete/bash_setup')}`);
    const functions = await readFile(join(home, '.cache/tollgate/autocomplete/functions/bash/tollgate.bash'), 'utf8');
    expect(functions).toMatch(/^lint --json --format --out$/m);
    expect(functions).toMatch(/^test --json --format --out .*--run$/m);
    expect(functions).toMatch(/^bundle:build --json --out/m);
    expect(functions).toMatch(/^ledger:verify --json /m);
  });
});

describe('the packed packages (pnpm pack of every workspace package)', () => {
  let scratch: string;
  let tarballs: string;
  const packed = new Map<string, { file: string; pkg: Record<string, unknown>; files: string[] }>();

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'tollgate-packed-'));
    tarballs = join(scratch, 'tarballs');
    const pack = await exec(process.execPath, [join(repoRoot, 'scripts/pack-packages.mjs'), tarballs], repoRoot);
    expect(pack.stderr).toBe('');
    expect(pack.code).toBe(0);
    for (const file of (await readdir(tarballs)).filter((f) => f.endsWith('.tgz'))) {
      const listing = await exec('tar', ['tzf', join(tarballs, file)], scratch);
      const manifest = await exec('tar', ['xzf', join(tarballs, file), '-O', 'package/package.json'], scratch);
      const pkg = JSON.parse(manifest.stdout) as Record<string, unknown>;
      packed.set(pkg['name'] as string, { file: join(tarballs, file), pkg, files: listing.stdout.trim().split('\n').map((f) => f.replace(/^package\//, '')) });
    }
  }, 120_000);
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('every package is packed, with real versions instead of workspace:*, and everything its manifest names', () => {
    expect([...packed.keys()].sort()).toEqual(['@tollgate/cli', '@tollgate/demo-exchange', '@tollgate/gateway', '@tollgate/ledger', '@tollgate/policy']);
    for (const [name, { pkg, files }] of packed) {
      expect(JSON.stringify(pkg), name).not.toContain('workspace:');
      expect(pkg['engines'], name).toEqual({ node: '>=20' });
      const targets: string[] = [];
      const collect = (value: unknown): void => {
        if (typeof value === 'string') targets.push(value);
        else if (value && typeof value === 'object') Object.values(value).forEach(collect);
      };
      collect(pkg['exports']);
      collect(pkg['bin']);
      for (const target of targets) expect(files, `${name}: ${target}`).toContain(target.replace(/^\.\//, ''));
    }
    expect(packed.get('@tollgate/gateway')!.pkg['dependencies']).toMatchObject({ '@tollgate/ledger': '0.1.0', '@tollgate/policy': '0.1.0' });
    expect(packed.get('@tollgate/ledger')!.files).toContain('dist/migrations/0001_ledger_events.sql');
    // The CLI is the standalone build: no dependencies at all.
    expect(packed.get('@tollgate/cli')!.pkg['dependencies']).toBeUndefined();
    expect(packed.get('@tollgate/cli')!.files).toEqual(expect.arrayContaining(['bin/tollgate.js', 'lib/commands/lint.js', 'lib/commands/bundle/build.js', 'lib/hooks/command-not-found.js', 'lib/pglite.wasm', 'oclif.manifest.json', 'THIRD-PARTY-NOTICES.md']));
  });

  it('npm install of the CLI tarball, offline with an empty cache, then npx tollgate lint and test', async () => {
    const project = join(scratch, 'project');
    await mkdir(project);
    await policyRepository(project);
    const env = { npm_config_cache: join(scratch, 'npm-cache'), npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    const install = await exec('npm', ['install', packed.get('@tollgate/cli')!.file], project, env);
    expect(install.stderr).not.toMatch(/ERR/);
    expect(install.code).toBe(0);
    const version = await exec('npx', ['--offline', 'tollgate', '--version'], project, env);
    expect(version.stdout).toMatch(/^@tollgate\/cli\/0\.1\.0 /);
    const lint = await exec('npx', ['--offline', 'tollgate', 'lint', 'policies/shop'], project, env);
    expect(lint.stderr).toBe('');
    expect(lint.code).toBe(0);
    expect(lint.stdout).toContain('0 errors, 0 warnings');
    const redos = await exec('npx', ['--offline', 'tollgate', 'lint', 'policies/notes', '--format', 'github'], project, env);
    expect(redos.code).toBe(1);
    expect(redos.stdout).toMatch(/^::error file=policies\/notes\/policy\.json,line=\d+,col=\d+,title=TG101/m);
    const test = await exec('npx', ['--offline', 'tollgate', 'test', 'policies/shop'], project, env);
    expect(test.code).toBe(0);
  }, 120_000);

  it('the library packages load from their tarballs: exports, files and declared dependencies are enough', async () => {
    const project = join(scratch, 'libraries');
    const modules = join(project, 'node_modules');
    await mkdir(join(modules, '@tollgate'), { recursive: true });
    for (const name of ['@tollgate/policy', '@tollgate/ledger', '@tollgate/gateway']) {
      const target = join(modules, name);
      await mkdir(target, { recursive: true });
      const untar = await exec('tar', ['xzf', packed.get(name)!.file, '-C', target, '--strip-components=1'], project);
      expect(untar.code).toBe(0);
      // Third-party dependencies the package declares, linked from the workspace's install: an
      // import of anything undeclared fails to resolve.
      const workspacePackage = join(repoRoot, 'packages', name.replace('@tollgate/', ''));
      for (const dep of Object.keys((packed.get(name)!.pkg['dependencies'] as Record<string, string>) ?? {})) {
        if (dep.startsWith('@tollgate/')) continue;
        const link = join(modules, dep);
        if (existsSync(link)) continue;
        await mkdir(dirname(link), { recursive: true });
        await symlink(await realpath(join(workspacePackage, 'node_modules', dep)), link);
      }
    }
    const script = [
      "import { compilePolicy, REPOSITORY_URL } from '@tollgate/policy';",
      "import { defaultMigrationsDir } from '@tollgate/ledger';",
      "import { loadGatewayConfig } from '@tollgate/gateway';",
      "import { createRequire } from 'node:module';",
      "const schema = createRequire(import.meta.url)('@tollgate/policy/schema/policy.schema.json');",
      "const policy = compilePolicy({ version: '1', default: 'deny', tools: { a: {} } });",
      "console.log(JSON.stringify({ migrations: defaultMigrationsDir(), id: schema.$id, repo: REPOSITORY_URL, gateway: typeof loadGatewayConfig, decide: typeof policy.decide }));",
    ].join('\n');
    await writeFile(join(project, 'probe.mjs'), script);
    const probe = await exec(process.execPath, ['probe.mjs'], project);
    expect(probe.stderr).toBe('');
    const seen = JSON.parse(probe.stdout);
    expect(seen.migrations).toBe(join(await realpath(modules), '@tollgate/ledger/dist/migrations'));
    expect(seen.id.startsWith(seen.repo)).toBe(true);
    expect(seen).toMatchObject({ gateway: 'function', decide: 'function' });
  }, 60_000);
});
