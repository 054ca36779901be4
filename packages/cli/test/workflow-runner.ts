import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSourceDocument } from '@tollgate/policy';
import { simpleGit, type SimpleGit } from 'simple-git';
import { RUN_JS, runCli } from './cli-process.js';
import { DEMO_EXCHANGE_COMMAND } from './mcp-servers.js';

/** One step of a workflow job, as far as running it needs. */
export interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly run?: string;
  readonly uses?: string;
  readonly env?: Record<string, string>;
}
/** The jobs of the policy-review workflow. */
export interface Workflow {
  readonly jobs: Record<'review' | 'bundle', { readonly steps: readonly Step[] }>;
}

/** How a step ended, and the outputs it set. */
export interface StepOutcome {
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
export class WorkflowRunner {
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

/**
 * A runner for the policy-review workflow in `repo` (as `tollgate init` wrote it), with the
 * built CLI as `tollgate` on the PATH and a fresh RUNNER_TEMP under `scratch`.
 */
export async function workflowRunner(repo: string, scratch: string): Promise<WorkflowRunner> {
  const bin = join(scratch, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'tollgate'), `#!/bin/sh\nexec "${process.execPath}" "${RUN_JS}" "$@"\n`);
  await chmod(join(bin, 'tollgate'), 0o755);
  const runnerTemp = join(scratch, 'runner-temp');
  await mkdir(runnerTemp, { recursive: true });
  const text = await readFile(join(repo, '.github/workflows/policy-review.yml'), 'utf8');
  const { document, diagnostics } = parseSourceDocument(text, 'policy-review.yml');
  if (!document) throw new Error(`the workflow does not parse: ${diagnostics.map((d) => d.message).join('; ')}`);
  return new WorkflowRunner(repo, document.value as Workflow, runnerTemp, bin);
}

/** Stages everything in the repository and commits it. */
export async function commitAll(git: SimpleGit, message: string): Promise<void> {
  await git.add('.');
  await git.commit(message);
}

/** Rewrites a JSON file of the repository through `edit`, as an author's change would. */
export async function editJson<T>(file: string, edit: (value: T) => void): Promise<void> {
  const value = JSON.parse(await readFile(file, 'utf8')) as T;
  edit(value);
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** The policy repository's test cases, as far as these tests edit them. */
export interface EditableTests {
  cases: Array<{ name: string; call?: { tool: string; args?: Record<string, unknown> }; expect: unknown }>;
}

/**
 * The change both the workflow test and the loop test make: `fetch_ohlcv` becomes denied
 * (narrower), with the generated test case updated to expect it.
 */
export async function denyFetchOhlcv(repo: string, server: string): Promise<void> {
  await editJson<{ tools: Record<string, unknown> }>(join(repo, `policies/${server}/policy.json`), (policy) => {
    policy.tools['fetch_ohlcv'] = { action: 'deny', reason: 'Market data comes from the data desk.' };
  });
  await editJson<EditableTests>(join(repo, `policies/${server}/${server}.test.json`), (tests) => {
    for (const c of tests.cases) if (c.call?.tool === 'fetch_ohlcv') c.expect = { effect: 'deny', rule: 'tools.fetch_ohlcv.action' };
  });
}

/** A policy repository made by `tollgate init` from the demo exchange, with a bare `origin` it was pushed to. */
export interface ScaffoldedRepository {
  readonly repo: string;
  /** The bare repository `origin` points at (what a gateway would read). */
  readonly origin: string;
  readonly git: SimpleGit;
  readonly runner: WorkflowRunner;
}

/**
 * Runs `tollgate init <name> --from-server <demo exchange> --server-name ccxt` in `root`,
 * commits the result on main as a policy author, and pushes it to a new bare `origin`.
 */
export async function scaffoldedRepository(root: string, name: string): Promise<ScaffoldedRepository> {
  const origin = join(root, `${name}.git`);
  await simpleGit().init(true, [origin, '--initial-branch=main']);
  const made = await runCli(['init', name, '--from-server', DEMO_EXCHANGE_COMMAND, '--server-name', 'ccxt'], root);
  if (made.code !== 0) throw new Error(`tollgate init failed (${made.code}): ${made.stderr}`);
  const repo = join(root, name);
  const git = simpleGit(repo);
  await git.addConfig('user.name', 'Policy Author').addConfig('user.email', 'author@example.com');
  await commitAll(git, 'Policies for ccxt');
  await git.addRemote('origin', origin);
  await git.push(['-u', 'origin', 'main']);
  return { repo, origin, git, runner: await workflowRunner(repo, root) };
}
