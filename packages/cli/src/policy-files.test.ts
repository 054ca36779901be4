import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError } from './cli-error.js';
import { discoverPolicyFiles, foundFile, readPolicyFile, resolveTestPolicy } from './policy-files.js';
import { isWatchedName } from './test-suite-watcher.js';

let root: string;

async function write(files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

async function failure(promise: Promise<unknown>): Promise<CliError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  return error as CliError;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'tollgate-files-'));
  await write({
    'policies/ccxt/policy.json': '{}',
    'policies/ccxt/catalog.json': '{}',
    'policies/ccxt/orders.test.json': '{}',
    'policies/ccxt/reads.test.yaml': '',
    'policies/ccxt/notes.md': '',
    'policies/everything/policy.yaml': '',
    'policies/everything/all.test.yml': '',
    'policies/empty/README.md': '',
  });
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('discoverPolicyFiles', () => {
  it('finds every server of a repository root by default path and by root', async () => {
    const byDefault = await discoverPolicyFiles([], { cwd: root });
    const byRoot = await discoverPolicyFiles(['.'], { cwd: root });
    expect(byRoot).toEqual(byDefault);
    expect(byDefault.policies.map((p) => [p.server, p.policy.path, p.catalog?.path])).toEqual([
      ['ccxt', 'policies/ccxt/policy.json', 'policies/ccxt/catalog.json'],
      ['everything', 'policies/everything/policy.yaml', undefined],
    ]);
    expect(byDefault.tests.map((t) => t.path)).toEqual(['policies/ccxt/orders.test.json', 'policies/ccxt/reads.test.yaml', 'policies/everything/all.test.yml']);
    expect(byDefault.directories).toEqual([join(root, 'policies'), join(root, 'policies/ccxt'), join(root, 'policies/everything')]);
  });

  it('takes one server directory, and reports paths relative to the working directory', async () => {
    const found = await discoverPolicyFiles(['ccxt'], { cwd: join(root, 'policies') });
    expect(found.policies.map((p) => p.policy.path)).toEqual(['ccxt/policy.json']);
    expect(found.policies[0]!.policy.absolutePath).toBe(join(root, 'policies/ccxt/policy.json'));
    expect(found.tests.map((t) => t.path)).toEqual(['ccxt/orders.test.json', 'ccxt/reads.test.yaml']);
  });

  it('takes single files: a policy (with its catalog and the tests beside it) and a test file, each once', async () => {
    const found = await discoverPolicyFiles(['policies/ccxt/policy.json', 'policies/everything/all.test.yml', './policies/ccxt/policy.json'], { cwd: root });
    expect(found.policies).toEqual([
      {
        server: 'ccxt',
        policy: { path: 'policies/ccxt/policy.json', absolutePath: join(root, 'policies/ccxt/policy.json') },
        catalog: { path: 'policies/ccxt/catalog.json', absolutePath: join(root, 'policies/ccxt/catalog.json') },
        siblings: [],
      },
    ]);
    expect(found.tests.map((t) => t.path)).toEqual(['policies/ccxt/orders.test.json', 'policies/ccxt/reads.test.yaml', 'policies/everything/all.test.yml']);
  });

  it('refuses a missing path, a catalog, a non-policy file and an empty directory with exit 2', async () => {
    const missing = await failure(discoverPolicyFiles(['nope'], { cwd: root }));
    expect(missing.code).toBe('path.not-found');
    expect(missing.exit).toBe(2);
    expect(missing.message).toContain('nope: no such file or directory');
    expect((await failure(discoverPolicyFiles(['policies/ccxt/catalog.json'], { cwd: root }))).message).toContain('Pass the policy beside it (policies/ccxt/policy.json)');
    expect((await failure(discoverPolicyFiles(['policies/ccxt/notes.md'], { cwd: root }))).code).toBe('path.not-policy');
    const empty = await failure(discoverPolicyFiles(['policies/empty'], { cwd: root }));
    expect(empty.code).toBe('policy.none-found');
    expect(empty.message).toContain('policies/empty: no policy or test file found');
  });

  it('refuses a server directory with two policy files', async () => {
    await write({ 'policies/ccxt/policy.yaml': '' });
    const error = await failure(discoverPolicyFiles(['policies/ccxt'], { cwd: root }));
    expect(error.code).toBe('policy.ambiguous');
    expect(error.exit).toBe(2);
    expect(error.message).toContain('policies/ccxt/policy.json:1:1: error TG004 the server directory has 2 policy files (policy.json, policy.yaml)');
    // A policy named on the command line does not get past it either.
    expect((await failure(discoverPolicyFiles(['policies/ccxt/policy.yaml'], { cwd: root }))).message).toContain('error TG004');
  });

  it('with conflicts: report, returns the first policy file and the others as siblings (for lint to report TG004)', async () => {
    await write({ 'policies/ccxt/policy.yaml': '' });
    const found = await discoverPolicyFiles(['policies'], { cwd: root, conflicts: 'report' });
    const ccxt = found.policies.find((p) => p.server === 'ccxt')!;
    expect(ccxt.policy.path).toBe('policies/ccxt/policy.json');
    expect(ccxt.siblings.map((f) => f.path)).toEqual(['policies/ccxt/policy.yaml']);
  });
});

describe('reading and resolving', () => {
  it('reports a file that cannot be read, naming it', async () => {
    await mkdir(join(root, 'policies/dir/policy.json'), { recursive: true });
    const error = await failure(readPolicyFile(foundFile(join(root, 'policies/dir/policy.json'), root)));
    expect(error.code).toBe('file.unreadable');
    expect(error.message).toBe('policies/dir/policy.json: cannot be read (it is a directory)');
  });

  it('resolves a test file\'s policy relative to it, else the policy beside it', async () => {
    const test = foundFile(join(root, 'policies/everything/all.test.yml'), root);
    expect(await resolveTestPolicy(test, '../ccxt/policy.json')).toBe(join(root, 'policies/ccxt/policy.json'));
    expect(await resolveTestPolicy(test, undefined)).toBe(join(root, 'policies/everything/policy.yaml'));
    expect(await resolveTestPolicy(foundFile(join(root, 'policies/empty/x.test.json'), root), undefined)).toBeUndefined();
  });
});

describe('isWatchedName', () => {
  it('reacts to policies, catalogs, tests and new directories, not to editor files', () => {
    for (const name of ['policy.json', 'policy.yml', 'catalog.json', 'a.test.json', 'b.test.yaml', 'newserver', null]) expect(isWatchedName(name)).toBe(true);
    for (const name of ['.policy.json.swp', 'policy.json~', '4913', 'notes.md', 'policy.json.tmp']) expect(isWatchedName(name)).toBe(false);
  });
});
