import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyReviewWorkflow } from '../src/scaffold/policy-review-workflow.js';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE_COMMAND, closedPortUrl, everythingCommand, startHttpDemoExchange, type HttpDemoExchange } from './mcp-servers.js';

const FILES = (server: string) => [
  '.github/workflows/policy-review.yml',
  '.gitignore',
  'README.md',
  'bundles/README.md',
  `policies/${server}/${server}.test.json`,
  `policies/${server}/catalog.json`,
  `policies/${server}/policy.json`,
].sort();

/** Every file under a directory, relative, sorted; `.git` left out. */
async function listFiles(root: string, under = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${entry.name}` : entry.name;
    if (entry.name === '.git') continue;
    if (entry.isDirectory()) out.push(...(await listFiles(root, rel)));
    else out.push(rel);
  }
  return out.sort();
}

describe('tollgate init', () => {
  let work: TempTree;
  let http: HttpDemoExchange;

  beforeAll(async () => {
    work = await tempTree();
    http = await startHttpDemoExchange();
  });
  afterAll(async () => {
    await http?.stop();
    await work?.remove();
  });

  it('--from-server: pulls the catalog, writes a starter policy and tests that pass tollgate lint and tollgate test as is', async () => {
    const out = await runCli(['init', 'desk', '--from-server', DEMO_EXCHANGE_COMMAND, '--server-name', 'ccxt'], work.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Pulled 19 tools of demo-exchange /);
    expect(out.stdout).toMatch(/^ {2}critical {2}financial {4}withdraw_cryptocurrency +-> needs approval$/m);
    expect(out.stdout).toMatch(/^ {2}low {7}read {9}fetch_ohlcv +-> allowed$/m);
    expect(out.stdout).toContain('Initialized a Git repository and wrote a policy repository for "ccxt"');
    expect(out.stdout).toContain('Next steps:\n  cd desk\n');

    const repo = join(work.root, 'desk');
    expect(await listFiles(repo)).toEqual(FILES('ccxt'));
    expect(await simpleGit(repo).checkIsRepo()).toBe(true);

    const lint = await runCli(['lint'], repo);
    expect(lint.code).toBe(0);
    expect(lint.stdout.trim().split('\n').at(-1)).toBe('0 errors, 0 warnings, 0 infos in 1 policy and 1 test file');
    const test = await runCli(['test'], repo);
    expect(test.code).toBe(0);
    // 19 tools, one more case for each of the 7 approval tools, and the default-deny case.
    expect(test.stdout.trim().split('\n').at(-1)).toBe('27 passed, 0 failed');

    const policy = JSON.parse(await readFile(join(repo, 'policies/ccxt/policy.json'), 'utf8'));
    expect(policy.default).toBe('deny');
    expect(policy.tools.withdraw_cryptocurrency).toMatchObject({ action: 'approve' });
    expect(policy.tools.cancel_order).toMatchObject({ action: 'approve' });
    expect(policy.tools.fetch_ohlcv).toEqual({ description: 'low read: allowed.' });
    const catalog = JSON.parse(await readFile(join(repo, 'policies/ccxt/catalog.json'), 'utf8'));
    expect(catalog.server).toBe('ccxt');
    expect(catalog.tools).toHaveLength(19);
  });

  it('writes the review workflow, key instructions and a .gitignore for keys and local state', async () => {
    const repo = join(work.root, 'desk');
    expect(await readFile(join(repo, '.github/workflows/policy-review.yml'), 'utf8')).toBe(policyReviewWorkflow({ kind: 'remote', ref: 'tollgate-project/tollgate@v0.1.0' }));
    const gitignore = (await readFile(join(repo, '.gitignore'), 'utf8')).split('\n');
    expect(gitignore).toEqual(expect.arrayContaining(['*.key', '.tollgate/']));
    const readme = await readFile(join(repo, 'README.md'), 'utf8');
    expect(readme).toContain('tollgate keys generate --out tollgate-ci');
    expect(readme).toContain('TOLLGATE_SIGNING_KEY');
    expect(readme).toContain('policies/ccxt/policy.json');
    expect(readme).toContain('`uses: tollgate-project/tollgate@v0.1.0`');
  });

  it('--action pins another owner/ref of the action (a fork, a branch), --cli-package an npm spec; a malformed --action is refused', async () => {
    const out = await runCli(['init', 'forked', '--action', 'acme-sec/tollgate@release-2', '--cli-package', 'https://example.com/tollgate-cli-0.1.0.tgz', '--json'], work.root);
    expect(out.code).toBe(0);
    const workflow = await readFile(join(work.root, 'forked/.github/workflows/policy-review.yml'), 'utf8');
    expect(workflow).toBe(policyReviewWorkflow({ kind: 'remote', ref: 'acme-sec/tollgate@release-2', cliPackage: 'https://example.com/tollgate-cli-0.1.0.tgz' }));
    expect(workflow.match(/uses: acme-sec\/tollgate@release-2/g)).toHaveLength(2);
    expect(workflow.match(/cli-package: "https:\/\/example\.com\/tollgate-cli-0\.1\.0\.tgz"/g)).toHaveLength(2);
    const bad = await runCli(['init', 'bad', '--action', 'tollgate@v1'], work.root);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Error: --action: "tollgate@v1" is not an action reference: expected owner/repo@ref');
    expect(existsSync(join(work.root, 'bad'))).toBe(false);
  });

  it('--from-server server-everything: get-env (hands out the environment) and gzip-file-as-resource (acts on the open world) need approval', async () => {
    const out = await runCli(['init', 'everything-repo', '--from-server', everythingCommand()], work.root);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^ {2}high {6}read {9}get-env +-> needs approval$/m);
    expect(out.stdout).toMatch(/^ {2}high {6}write {8}gzip-file-as-resource +-> needs approval$/m);
    expect(out.stdout).toMatch(/^ {2}medium {4}write {8}toggle-simulated-logging +-> rate-limited$/m);
    expect(out.stdout).toMatch(/^ {2}low {7}read {9}echo +-> allowed$/m);
    const repo = join(work.root, 'everything-repo');
    const policy = JSON.parse(await readFile(join(repo, 'policies/everything/policy.json'), 'utf8'));
    expect(policy.tools['get-env']).toMatchObject({ action: 'approve' });
    expect(policy.tools['get-sum']).toEqual({ description: 'low read: allowed.' });
    const lint = await runCli(['lint'], repo);
    expect(lint.stdout.trim().split('\n').at(-1)).toBe('0 errors, 0 warnings, 0 infos in 1 policy and 1 test file');
    const test = await runCli(['test'], repo);
    expect(test.code).toBe(0);
    // 13 tools, one more case for each of the 3 approval tools, and the default-deny case.
    expect(test.stdout.trim().split('\n').at(-1)).toBe('17 passed, 0 failed');
  });

  it('without a server: an example server with an empty catalog and a default-deny policy that lints and tests clean', async () => {
    const out = await runCli(['init', 'empty', '--json'], work.root);
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as { server: string; gitInitialized: boolean; pulled: unknown; plan: unknown[]; files: Array<{ path: string; status: string }> };
    expect(result).toMatchObject({ server: 'example', gitInitialized: true, pulled: null, plan: [] });
    expect(result.files.map((f) => f.path).sort()).toEqual(FILES('example'));
    expect(result.files.every((f) => f.status === 'created')).toBe(true);
    const repo = join(work.root, 'empty');
    expect(JSON.parse(await readFile(join(repo, 'policies/example/catalog.json'), 'utf8'))).toEqual({ server: 'example', tools: [] });
    expect((await runCli(['lint'], repo)).code).toBe(0);
    const test = await runCli(['test'], repo);
    expect(test.code).toBe(0);
    expect(test.stdout.trim().split('\n').at(-1)).toBe('1 passed, 0 failed');
  });

  it('from a Streamable HTTP URL, naming the server from what it reports', async () => {
    const out = await runCli(['init', 'over-http', '--from-server', http.url, '--json'], work.root);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ server: 'demo-exchange', pulled: { target: http.url } });
    const repo = join(work.root, 'over-http');
    expect(await listFiles(repo)).toEqual(FILES('demo-exchange'));
    expect((await runCli(['lint'], repo)).code).toBe(0);
    expect((await runCli(['test'], repo)).code).toBe(0);
  });

  it('running it again changes nothing; a file changed since is a conflict unless --force', async () => {
    const repo = join(work.root, 'empty');
    const again = await runCli(['init', 'empty', '--json'], work.root);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).files.every((f: { status: string }) => f.status === 'unchanged')).toBe(true);
    expect(JSON.parse(again.stdout).gitInitialized).toBe(false);

    const policyFile = join(repo, 'policies/example/policy.json');
    const readmeFile = join(repo, 'README.md');
    await writeFile(policyFile, '{ "version": "1", "default": "allow" }\n');
    await writeFile(readmeFile, '# mine\n');
    const conflict = await runCli(['init', 'empty', '--server-name', 'other'], work.root);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('README.md');
    expect(conflict.stderr).toContain('nothing was written');
    expect(conflict.stderr).toContain('--force');
    // Nothing of the refused set was written, not even its non-conflicting files.
    expect(existsSync(join(repo, 'policies/other'))).toBe(false);
    expect(await readFile(readmeFile, 'utf8')).toBe('# mine\n');

    const forced = await runCli(['init', 'empty', '--force', '--json'], work.root);
    expect(forced.code).toBe(0);
    const statuses = Object.fromEntries((JSON.parse(forced.stdout).files as Array<{ path: string; status: string }>).map((f) => [f.path, f.status]));
    expect(statuses['policies/example/policy.json']).toBe('overwritten');
    expect(statuses['README.md']).toBe('overwritten');
    expect(statuses['.gitignore']).toBe('unchanged');
    expect(JSON.parse(await readFile(policyFile, 'utf8')).default).toBe('deny');
    expect(await readdir(repo)).not.toContainEqual(expect.stringMatching(/^\.tollgate-staging-/));
  });

  it('inside an existing Git repository it adds the files without a second git init', async () => {
    const repo = join(work.root, 'existing');
    await mkdir(repo);
    await simpleGit(repo).init();
    await writeFile(join(repo, 'NOTES.md'), 'kept\n');
    const out = await runCli(['init', '--json'], repo);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).gitInitialized).toBe(false);
    expect(await readFile(join(repo, 'NOTES.md'), 'utf8')).toBe('kept\n');
    expect(existsSync(join(repo, 'policies/example/policy.json'))).toBe(true);
  });

  it('an unreachable server is an input error (exit 2) and leaves no directory behind', async () => {
    const url = await closedPortUrl();
    const out = await runCli(['init', 'nowhere', '--from-server', url], work.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`Error: cannot read the tools of ${url}`);
    expect(existsSync(join(work.root, 'nowhere'))).toBe(false);
  });

  it('refuses a target that is a file', async () => {
    await writeFile(join(work.root, 'a-file'), 'x');
    const out = await runCli(['init', 'a-file'], work.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('exists and is not a directory');
  });
});
