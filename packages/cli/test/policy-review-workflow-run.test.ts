import { existsSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { simpleGit, type SimpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { sarifSchemaValidator } from './sarif-schema-validator.js';
import { ACTION_PATH, commitAll, denyFetchOhlcv, editJson, scaffoldedRepository, type EditableTests, type WorkflowRunner } from './workflow-runner.js';

// The workflow `tollgate init` writes, run job by job: its steps and the Tollgate action's own
// steps (action.yml), with the inputs the workflow passes, the conditions as GitHub evaluates
// them, and the standalone CLI the action installs on the PATH.
describe('the policy-review workflow and the Tollgate action, run on a repository made by tollgate init', () => {
  let tree: TempTree;
  let repo: string;
  let origin: string;
  let git: SimpleGit;
  let runner: WorkflowRunner;

  beforeAll(async () => {
    tree = await tempTree();
    ({ repo, origin, git, runner } = await scaffoldedRepository(tree.root, 'repo'));
  }, 60_000);
  afterAll(() => tree?.remove());

  it("the workflow is a checkout and the Tollgate action; the action's run steps take inputs through env only", () => {
    for (const job of Object.values(runner.workflow.jobs)) {
      expect(job.steps.map((s) => s.uses)).toEqual(['actions/checkout@v4', 'tollgate-project/tollgate@v0.1.0']);
    }
    for (const step of runner.action.runs.steps) expect(step.run ?? '').not.toContain('${{');
  });

  it('a pull request that widens a critical-risk tool: reports and comment made, and the check fails', async () => {
    await git.checkoutLocalBranch('allow-withdrawals');
    await editJson<{ tools: Record<string, unknown> }>(join(repo, 'policies/ccxt/policy.json'), (policy) => {
      policy.tools['withdraw_cryptocurrency'] = { description: 'Allowed without approval.', rate_limit: { max: 1, window: 'day' } };
    });
    await editJson<EditableTests>(join(repo, 'policies/ccxt/ccxt.test.json'), (tests) => {
      tests.cases = tests.cases.filter((c) => c.call?.tool !== 'withdraw_cryptocurrency' || !c.name.includes('approved'));
      for (const c of tests.cases) if (c.call?.tool === 'withdraw_cryptocurrency') c.expect = { effect: 'allow', rule: null };
    });
    await commitAll(git, 'Let agents withdraw once a day');

    const run = await runner.runJob('review', { event: 'pull_request' });
    // The action installed the standalone CLI of its checkout on the PATH.
    expect(run.step('cli').stdout).toMatch(/^@tollgate\/cli\/0\.1\.0 /m);
    expect(await realpath(join(runner.runnerTemp, 'tollgate-bin', 'tollgate'))).toBe(join(ACTION_PATH, 'packages/cli/dist/standalone/bin/tollgate.js'));
    expect(run.conclusion).toBe('failure');
    expect(run.outputs).toMatchObject({ 'lint-status': '0', 'test-status': '0', 'diff-status': '1' });

    const upload = run.actionSteps.find((s) => s.uses === 'github/codeql-action/upload-sarif@v3')!;
    const sarif = JSON.parse(await readFile(upload.with['sarif_file']!, 'utf8'));
    expect((await sarifSchemaValidator())(sarif)).toBe(true);
    expect(upload.with['category']).toBe('tollgate-lint');
    const report = run.actionSteps.find((s) => s.uses === 'actions/upload-artifact@v4')!;
    expect(XMLValidator.validate(await readFile(report.with['path']!, 'utf8'))).toBe(true);

    const [, comment] = runner.thread.comments;
    expect(runner.thread.calls).toEqual(['create on #7']);
    expect(comment!.body.split('\n')[0]).toBe('<!-- tollgate-diff -->');
    expect(comment!.body).toContain('withdraw_cryptocurrency');
    expect(run.summary).toContain('withdraw_cryptocurrency');
    expect(run.step('Verdict').stdout).toContain('::error title=Risky tool widened::');
    expect(run.step('Verdict').code).toBe(1);
  });

  it('the same pull request labelled policy-widening-approved passes, and the comment is updated, not repeated', async () => {
    const run = await runner.runJob('review', { event: 'pull_request', labels: ['documentation', 'policy-widening-approved'] });
    expect(run.step('Verdict').stdout).toContain('accepted by the label policy-widening-approved');
    expect(run.conclusion).toBe('success');
    expect(runner.thread.calls).toEqual(['create on #7', 'update 2']);
    expect(runner.thread.comments).toHaveLength(2);
  });

  it('fail-on-widening: none only reports; a fork gets no comment (read-only token) but the job summary', async () => {
    const run = await runner.runJob('review', { event: 'pull_request', headRepository: 'someone/fork' }, { 'fail-on-widening': 'none' });
    expect(run.conclusion).toBe('success');
    expect(run.outputs['diff-status']).toBe('0');
    expect(run.actionSteps.some((s) => s.uses === 'actions/github-script@v7')).toBe(false);
    expect(runner.thread.calls).toHaveLength(2);
    expect(run.summary).toContain('withdraw_cryptocurrency');
  });

  it('a pull request with a lint error and a failing test: annotations for both, reports still made, the check fails', async () => {
    await git.checkout('main');
    await git.checkoutLocalBranch('broken');
    await editJson<{ tools: Record<string, Record<string, unknown>> }>(join(repo, 'policies/ccxt/policy.json'), (policy) => {
      policy.tools['fetch_ohlcv'] = { require: [{ path: 'args.symbol', op: 'greater', value: 1 }] };
    });
    await commitAll(git, 'A typo');
    let run = await runner.runJob('review', { event: 'pull_request' });
    expect(run.outputs['lint-status']).toBe('1');
    expect(run.log).toMatch(/^::error file=policies\/ccxt\/policy\.json,line=\d+,col=\d+,title=TG010 schema::.*did you mean "gt"\?/m);
    expect(run.step('Verdict').stdout).toContain('::error title=Tollgate lint::');
    expect(run.conclusion).toBe('failure');

    await git.checkout('main');
    await git.deleteLocalBranch('broken', true);
    await git.checkoutLocalBranch('wrong-test');
    await editJson<EditableTests>(join(repo, 'policies/ccxt/ccxt.test.json'), (tests) => {
      const read = tests.cases.find((c) => c.call?.tool === 'fetch_ohlcv')!;
      read.expect = 'deny';
    });
    await commitAll(git, 'A test that is wrong');
    run = await runner.runJob('review', { event: 'pull_request' });
    expect(run.outputs).toMatchObject({ 'lint-status': '0', 'test-status': '1' });
    expect(run.log).toMatch(/^::error file=policies\/ccxt\/ccxt\.test\.json,line=\d+,col=\d+,title=tollgate test%3A .*fetch_ohlcv/m);
    expect(run.step('Verdict').stdout).toContain('::error title=Tollgate test::');
    expect(run.conclusion).toBe('failure');
    // The threshold input reaches tollgate test.
    const strict = await runner.runJob('review', { event: 'pull_request' }, { threshold: '101' });
    expect(strict.step('test').code).not.toBe(0);
    expect(strict.step('test').stderr).toContain('--threshold: expected a percentage from 0 to 100, got "101"');
  });

  it('a narrowing pull request passes, also from a shallow checkout without origin/main (the action fetches it)', async () => {
    await git.checkout('main');
    await git.checkoutLocalBranch('deny-ohlcv');
    await denyFetchOhlcv(repo, 'ccxt');
    await commitAll(git, 'Deny fetch_ohlcv');
    await git.raw(['update-ref', '-d', 'refs/remotes/origin/main']);
    const run = await runner.runJob('review', { event: 'pull_request' });
    expect(run.step('diff').stderr).not.toMatch(/fatal/);
    expect(run.conclusion).toBe('success');
    expect(run.outputs['diff-status']).toBe('0');
    expect(run.summary).toContain('fetch_ohlcv');
  });

  it('the review job does not run on a push, nor the bundle job on a pull request', async () => {
    expect((await runner.runJob('review', { event: 'push' })).conclusion).toBe('skipped');
    expect((await runner.runJob('bundle', { event: 'pull_request' })).conclusion).toBe('skipped');
  });

  it('on main: lints, tests, builds and signs a bundle the gateway trusts, commits it with [skip ci]; refuses without a key', async () => {
    await git.checkout('main');
    await git.merge(['--ff-only', 'deny-ohlcv']);
    await git.clean('f', ['-d', '-x', '-e', 'node_modules']);
    const keys = await runCli(['keys', 'generate', '--out', join(tree.root, 'ci'), '--json'], tree.root);
    expect(keys.code).toBe(0);
    const key = await readFile(join(tree.root, 'ci.key'), 'utf8');
    const sha = (await git.revparse(['HEAD'])).trim();

    const missing = await runner.runJob('bundle', { event: 'push', sha, secrets: {} });
    expect(missing.conclusion).toBe('failure');
    expect(missing.step('bundle').stdout).toContain('::error title=No signing key::');
    expect(existsSync(join(repo, 'bundles/bundle.json'))).toBe(false);

    const run = await runner.runJob('bundle', { event: 'push', sha, secrets: { TOLLGATE_SIGNING_KEY: key.trimEnd() } });
    expect(run.step('bundle').stderr).not.toMatch(/Error/);
    expect(run.conclusion).toBe('success');
    expect(run.outputs['bundle-changed']).toBe('true');
    // The key was never written to disk.
    expect((await readdir(runner.runnerTemp)).some((f) => f.includes('key'))).toBe(false);
    const head = await simpleGit(origin).log(['-1', 'main']);
    expect(head.latest?.message).toBe(`Signed policy bundle of ${sha.slice(0, 12)} [skip ci]`);
    const files = await simpleGit(origin).raw(['show', '--name-only', '--format=', 'main']);
    expect(files.trim()).toBe('bundles/bundle.json');

    const verify = await runCli(['bundle', 'verify', 'bundles/bundle.json', '--trust', join(tree.root, 'ci.pub'), '--json'], repo);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, git_commit: sha, servers: ['ccxt'] });

  });
});
