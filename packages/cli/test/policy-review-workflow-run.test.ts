import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSourceDocument } from '@tollgate/policy';
import { simpleGit, type SimpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_JS, runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE_COMMAND } from './mcp-servers.js';

interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly run?: string;
  readonly uses?: string;
  readonly env?: Record<string, string>;
}
interface Workflow {
  readonly jobs: Record<'review' | 'bundle', { readonly steps: readonly Step[] }>;
}

interface StepOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
}

/**
 * Runs the shell steps of the workflow `tollgate init` wrote, in the generated repository,
 * the way a GitHub runner would (`bash -eo pipefail`, the runner's files and variables), with
 * the CLI under test as `tollgate` on the PATH. Steps that use actions (checkout, uploads,
 * the comment) are GitHub's; this test runs everything the workflow itself decides.
 */
class WorkflowRunner {
  constructor(
    readonly repo: string,
    readonly workflow: Workflow,
    readonly runnerTemp: string,
    readonly bin: string,
  ) {}

  step(job: 'review' | 'bundle', name: string): Step {
    const found = this.workflow.jobs[job].steps.find((s) => s.name === name || s.id === name);
    if (!found?.run) throw new Error(`no run step "${name}" in job ${job}`);
    return found;
  }

  async run(job: 'review' | 'bundle', name: string, env: Record<string, string> = {}): Promise<StepOutcome> {
    const step = this.step(job, name);
    const output = join(this.runnerTemp, `output-${Date.now()}-${Math.random().toString(16).slice(2)}`);
    await writeFile(output, '');
    const stepEnv: Record<string, string> = {};
    for (const [key, value] of Object.entries(step.env ?? {})) {
      // The only expressions the steps' env uses; the values a runner would put there.
      stepEnv[key] = value.replace('${{ github.base_ref }}', 'main').replace('${{ secrets.TOLLGATE_SIGNING_KEY }}', env['TOLLGATE_SIGNING_KEY'] ?? '');
    }
    const processEnv: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${this.bin}:${process.env['PATH'] ?? ''}`,
      RUNNER_TEMP: this.runnerTemp,
      GITHUB_OUTPUT: output,
      GITHUB_STEP_SUMMARY: join(this.runnerTemp, 'summary.md'),
      GITHUB_WORKSPACE: this.repo,
      ...env,
      ...stepEnv,
    };
    delete processEnv['FORCE_COLOR'];
    return new Promise((resolve, reject) => {
      execFile('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!], { cwd: this.repo, env: processEnv, maxBuffer: 16 * 1024 * 1024 }, async (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        const outputs: Record<string, string> = {};
        for (const line of (await readFile(output, 'utf8')).split('\n')) {
          const at = line.indexOf('=');
          if (at > 0) outputs[line.slice(0, at)] = line.slice(at + 1);
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr, outputs });
      });
    });
  }
}

async function commitAll(git: SimpleGit, message: string): Promise<void> {
  await git.add('.');
  await git.commit(message);
}

describe('the policy-review workflow, run on a repository made by tollgate init', () => {
  let tree: TempTree;
  let repo: string;
  let origin: string;
  let git: SimpleGit;
  let runner: WorkflowRunner;

  beforeAll(async () => {
    tree = await tempTree();
    origin = join(tree.root, 'origin.git');
    await simpleGit().init(true, [origin, '--initial-branch=main']);
    const made = await runCli(['init', 'repo', '--from-server', DEMO_EXCHANGE_COMMAND, '--server-name', 'ccxt'], tree.root);
    expect(made.code).toBe(0);
    repo = join(tree.root, 'repo');
    git = simpleGit(repo);
    await git.addConfig('user.name', 'Policy Author').addConfig('user.email', 'author@example.com');
    await commitAll(git, 'Policies for ccxt');
    await git.addRemote('origin', origin);
    await git.push(['-u', 'origin', 'main']);

    const bin = join(tree.root, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'tollgate'), `#!/bin/sh\nexec "${process.execPath}" "${RUN_JS}" "$@"\n`);
    await chmod(join(bin, 'tollgate'), 0o755);
    const runnerTemp = join(tree.root, 'runner-temp');
    await mkdir(runnerTemp);
    const text = await readFile(join(repo, '.github/workflows/policy-review.yml'), 'utf8');
    const { document } = parseSourceDocument(text, 'policy-review.yml');
    runner = new WorkflowRunner(repo, document!.value as Workflow, runnerTemp, bin);
  });
  afterAll(() => tree?.remove());

  it('the run steps take no ${{ }} expressions: inputs come through env only', () => {
    for (const job of Object.values(runner.workflow.jobs)) for (const step of job.steps) expect(step.run ?? '').not.toContain('${{');
  });

  it('a pull request that widens a critical-risk tool: lint, tests and reports pass, the diff comment names it, and the gate fails it', async () => {
    await git.checkoutLocalBranch('allow-withdrawals');
    const policyFile = join(repo, 'policies/ccxt/policy.json');
    const policy = JSON.parse(await readFile(policyFile, 'utf8'));
    policy.tools.withdraw_cryptocurrency = { description: 'Allowed without approval.', rate_limit: { max: 1, window: 'day' } };
    await writeFile(policyFile, `${JSON.stringify(policy, null, 2)}\n`);
    const testFile = join(repo, 'policies/ccxt/ccxt.test.json');
    const tests = JSON.parse(await readFile(testFile, 'utf8')) as { cases: Array<{ name: string; call?: { tool: string }; expect: unknown }> };
    tests.cases = tests.cases.filter((c) => c.call?.tool !== 'withdraw_cryptocurrency' || !c.name.includes('approved'));
    for (const c of tests.cases) if (c.call?.tool === 'withdraw_cryptocurrency') c.expect = { effect: 'allow', rule: null };
    await writeFile(testFile, `${JSON.stringify(tests, null, 2)}\n`);
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
    const policyFile = join(repo, 'policies/ccxt/policy.json');
    const policy = JSON.parse(await readFile(policyFile, 'utf8'));
    policy.tools.fetch_ohlcv = { action: 'deny', reason: 'Market data comes from the data desk.' };
    await writeFile(policyFile, `${JSON.stringify(policy, null, 2)}\n`);
    const testFile = join(repo, 'policies/ccxt/ccxt.test.json');
    const tests = JSON.parse(await readFile(testFile, 'utf8')) as { cases: Array<{ call?: { tool: string }; expect: unknown }> };
    for (const c of tests.cases) if (c.call?.tool === 'fetch_ohlcv') c.expect = { effect: 'deny', rule: 'tools.fetch_ohlcv.action' };
    await writeFile(testFile, `${JSON.stringify(tests, null, 2)}\n`);
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
