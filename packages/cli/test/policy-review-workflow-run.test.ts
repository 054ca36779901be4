import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { commitAll, denyFetchOhlcv, editJson, scaffoldedRepository, type EditableTests, type WorkflowRunner } from './workflow-runner.js';

describe('the policy-review workflow, run on a repository made by tollgate init', () => {
  let tree: TempTree;
  let repo: string;
  let origin: string;
  let git: SimpleGit;
  let runner: WorkflowRunner;

  beforeAll(async () => {
    tree = await tempTree();
    ({ repo, origin, git, runner } = await scaffoldedRepository(tree.root, 'repo'));
  });
  afterAll(() => tree?.remove());

  it('the run steps take no ${{ }} expressions: inputs come through env only', () => {
    for (const job of Object.values(runner.workflow.jobs)) for (const step of job.steps) expect(step.run ?? '').not.toContain('${{');
  });

  it('a pull request that widens a critical-risk tool: lint, tests and reports pass, the diff comment names it, and the gate fails it', async () => {
    await git.checkoutLocalBranch('allow-withdrawals');
    await editJson<{ tools: Record<string, unknown> }>(join(repo, 'policies/ccxt/policy.json'), (policy) => {
      policy.tools['withdraw_cryptocurrency'] = { description: 'Allowed without approval.', rate_limit: { max: 1, window: 'day' } };
    });
    await editJson<EditableTests>(join(repo, 'policies/ccxt/ccxt.test.json'), (tests) => {
      tests.cases = tests.cases.filter((c) => c.call?.tool !== 'withdraw_cryptocurrency' || !c.name.includes('approved'));
      for (const c of tests.cases) if (c.call?.tool === 'withdraw_cryptocurrency') c.expect = { effect: 'allow', rule: null };
    });
    await commitAll(git, 'Let agents withdraw once a day');

    const lint = await runner.run('review', 'Lint');
    expect(lint.code).toBe(0);
    const sarif = await runner.run('review', 'Lint report for code scanning');
    expect(sarif.code).toBe(0);
    expect(JSON.parse(await readFile(join(repo, 'tollgate-lint.sarif'), 'utf8')).version).toBe('2.1.0');
    const test = await runner.run('review', 'Test');
    expect(test.code).toBe(0);
    expect(await readFile(join(repo, 'test-results/tollgate.xml'), 'utf8')).toContain('<testsuites');

    const diff = await runner.run('review', 'diff');
    expect(diff.code).toBe(0);
    expect(diff.outputs['status']).toBe('1');
    const comment = await readFile(join(repo, 'tollgate-diff.md'), 'utf8');
    expect(comment.split('\n')[0]).toBe('<!-- tollgate-diff -->');
    expect(comment).toContain('withdraw_cryptocurrency');
    expect(await readFile(join(runner.runnerTemp, 'summary.md'), 'utf8')).toContain('withdraw_cryptocurrency');

    // The gate's `if` holds (status 1, no label), and the step fails the job.
    const gate = await runner.run('review', 'Refuse a wider critical-risk tool');
    expect(gate.code).toBe(1);
    expect(gate.stdout).toContain('::error title=Critical-risk tool widened::');
  });

  it('a pull request that only narrows passes the diff gate', async () => {
    await git.checkout('main');
    await git.checkoutLocalBranch('deny-ohlcv');
    await denyFetchOhlcv(repo, 'ccxt');
    await commitAll(git, 'Deny fetch_ohlcv');

    expect((await runner.run('review', 'Test')).code).toBe(0);
    const diff = await runner.run('review', 'diff');
    expect(diff.code).toBe(0);
    expect(diff.outputs['status']).toBe('0');
    expect(await readFile(join(repo, 'tollgate-diff.md'), 'utf8')).toContain('fetch_ohlcv');
  });

  it('on main: builds, signs and commits a bundle the gateway trusts, with [skip ci], and removes the key', async () => {
    await git.checkout('main');
    await git.merge(['--ff-only', 'deny-ohlcv']);
    await git.clean('f', ['-d', '-x', '-e', 'node_modules']);
    const keys = await runCli(['keys', 'generate', '--out', join(tree.root, 'ci'), '--json'], tree.root);
    expect(keys.code).toBe(0);
    const key = await readFile(join(tree.root, 'ci.key'), 'utf8');
    const sha = (await git.revparse(['HEAD'])).trim();

    const missing = await runner.run('bundle', 'Build and sign the bundle', { TOLLGATE_SIGNING_KEY: '' });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('TOLLGATE_SIGNING_KEY');

    expect((await runner.run('bundle', 'Lint and test before signing')).code).toBe(0);
    const signed = await runner.run('bundle', 'Build and sign the bundle', { TOLLGATE_SIGNING_KEY: key.trimEnd(), GITHUB_SHA: sha });
    expect(signed.stderr).not.toMatch(/Error/);
    expect(signed.code).toBe(0);
    expect(await readdir(runner.runnerTemp)).not.toContain('tollgate-signing.key');

    const committed = await runner.run('bundle', 'Commit the signed bundle', { GITHUB_SHA: sha });
    expect(committed.code).toBe(0);
    const head = await simpleGit(origin).log(['-1', 'main']);
    expect(head.latest?.message).toBe(`Signed policy bundle of ${sha.slice(0, 12)} [skip ci]`);
    const files = await simpleGit(origin).raw(['show', '--name-only', '--format=', 'main']);
    expect(files.trim()).toBe('bundles/bundle.json');

    const verify = await runCli(['bundle', 'verify', 'bundles/bundle.json', '--trust', join(tree.root, 'ci.pub'), '--json'], repo);
    expect(verify.code).toBe(0);
    const verdict = JSON.parse(verify.stdout);
    expect(verdict).toMatchObject({ ok: true, git_commit: sha });
    expect(verdict.servers).toEqual(expect.arrayContaining(['ccxt']));

    // A second run without a policy change commits nothing.
    const again = await runner.run('bundle', 'Commit the signed bundle', { GITHUB_SHA: sha });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('The bundle did not change.');
    expect(existsSync(join(repo, 'bundles/bundle.json'))).toBe(true);
  });
});
