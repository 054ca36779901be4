import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSourceDocument } from '@tollgate/policy';
import { simpleGit, type SimpleGit } from 'simple-git';
import { runCli } from './cli-process.js';
import { condition, interpolate, type ExpressionScope, type ExpressionValue } from './github-expressions.js';
import { DEMO_EXCHANGE_COMMAND } from './mcp-servers.js';

/** This repository: the Tollgate action is its action.yml. */
export const ACTION_PATH = fileURLToPath(new URL('../../../', import.meta.url));

/** One step of a workflow job or of a composite action, as far as running it needs. */
export interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly if?: string;
  readonly run?: string;
  readonly shell?: string;
  readonly uses?: string;
  readonly with?: Record<string, string | number | boolean>;
  readonly env?: Record<string, string>;
  readonly 'working-directory'?: string;
}
/** The jobs of the policy-review workflow. */
export interface Workflow {
  readonly jobs: Record<'review' | 'bundle', { readonly if?: string; readonly steps: readonly Step[] }>;
}
/** The Tollgate action (action.yml). */
export interface CompositeAction {
  readonly inputs: Record<string, { readonly default?: string; readonly required?: boolean }>;
  readonly outputs: Record<string, { readonly value: string }>;
  readonly runs: { readonly using: string; readonly steps: readonly Step[] };
}

/** How one step went. `uses` steps other than the Tollgate action are recorded, not run. */
export interface StepRecord {
  readonly name: string;
  readonly id: string | undefined;
  readonly ran: boolean;
  readonly uses: string | undefined;
  /** Its `with:`, expanded. */
  readonly with: Record<string, string>;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
}

/** The event a job runs for. */
export interface JobEvent {
  readonly event: 'pull_request' | 'push';
  /** The pull request's base branch. */
  readonly baseRef?: string;
  readonly labels?: readonly string[];
  /** `owner/name` of the pull request's head repository (a fork when not the repository's own). */
  readonly headRepository?: string;
  readonly secrets?: Record<string, string>;
  readonly sha?: string;
}

/** A job's run: each step of the workflow and of the action in order, and how the job ended. */
export interface JobRun {
  readonly conclusion: 'success' | 'failure' | 'skipped';
  /** The workflow's steps. */
  readonly steps: readonly StepRecord[];
  /** The Tollgate action's own steps, in order. */
  readonly actionSteps: readonly StepRecord[];
  /** The action's outputs. */
  readonly outputs: Record<string, string>;
  /** Everything the run steps printed to stdout, in order (workflow commands included). */
  readonly log: string;
  /** The job summary (GITHUB_STEP_SUMMARY). */
  readonly summary: string;
  /** An action step by name or id. */
  step(name: string): StepRecord;
}

/** The pull request's comment thread, as the github-script step sees it through the API. */
export interface CommentThread {
  readonly comments: Array<{ id: number; body: string; user: { type: string } }>;
  readonly calls: string[];
}

const REPOSITORY = 'desk/policies';
const PR_NUMBER = 7;

/**
 * Runs the jobs of the policy-review workflow `tollgate init` wrote, in the generated
 * repository, the way a GitHub runner would: the workflow's steps in order, the Tollgate
 * action (action.yml of this repository) expanded into its own steps with its inputs, each
 * step's `if:` evaluated, `run:` steps in `bash --noprofile --norc -eo pipefail` with the
 * runner's files (GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY) and variables, and the
 * github-script comment step run against an in-memory comment thread. Steps that use other
 * actions (checkout, setup-node, the uploads) are recorded with their inputs, not run: they
 * are GitHub's; everything the workflow and the action themselves decide runs for real, with
 * the standalone CLI the action installs.
 */
export class WorkflowRunner {
  readonly thread: CommentThread = { comments: [{ id: 1, body: 'Looks fine to me.', user: { type: 'User' } }], calls: [] };
  #counter = 0;

  constructor(
    readonly repo: string,
    readonly workflow: Workflow,
    readonly action: CompositeAction,
    readonly runnerTemp: string,
  ) {}

  /** Runs a job for `event`; `inputs` overrides the action inputs the workflow passes. */
  async runJob(job: 'review' | 'bundle', event: JobEvent, inputs: Record<string, string> = {}): Promise<JobRun> {
    const github = this.#githubContext(event);
    const secrets = event.secrets ?? {};
    const jobIf = this.workflow.jobs[job].if;
    if (jobIf !== undefined && !condition(jobIf, { contexts: { github, secrets }, failed: false })) {
      return { conclusion: 'skipped', steps: [], actionSteps: [], outputs: {}, log: '', summary: '', step: () => { throw new Error('the job was skipped'); } };
    }
    const summaryFile = join(this.runnerTemp, `summary-${++this.#counter}.md`);
    await writeFile(summaryFile, '');
    const paths: string[] = [];
    const steps: StepRecord[] = [];
    const actionSteps: StepRecord[] = [];
    let outputs: Record<string, string> = {};
    let log = '';
    let failed = false;
    for (const step of this.workflow.jobs[job].steps) {
      const scope: ExpressionScope = { contexts: { github, secrets, steps: {} }, failed };
      const name = step.name ?? step.uses ?? 'run';
      const expanded = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, interpolate(String(v), scope)]));
      if (!condition(step.if, scope)) continue;
      if (step.uses && this.#isTollgateAction(step.uses)) {
        const ran = await this.#runAction({ ...expanded, ...inputs }, github, paths, summaryFile, event);
        actionSteps.push(...ran.steps);
        outputs = ran.outputs;
        log += ran.log;
        failed ||= ran.failed;
        steps.push({ name, id: step.id, ran: true, uses: step.uses, with: expanded, code: ran.failed ? 1 : 0, stdout: ran.log, stderr: '', outputs: ran.outputs });
      } else {
        steps.push({ name, id: step.id, ran: false, uses: step.uses, with: expanded, code: 0, stdout: '', stderr: '', outputs: {} });
      }
    }
    const summary = await readFile(summaryFile, 'utf8');
    return {
      conclusion: failed ? 'failure' : 'success',
      steps,
      actionSteps,
      outputs,
      log,
      summary,
      step: (wanted) => {
        const found = actionSteps.find((s) => s.name === wanted || s.id === wanted);
        if (!found) throw new Error(`no action step "${wanted}" ran (ran: ${actionSteps.map((s) => s.id ?? s.name).join(', ')})`);
        return found;
      },
    };
  }

  #isTollgateAction(uses: string): boolean {
    return uses === './' || /\/tollgate@/.test(uses);
  }

  #githubContext(event: JobEvent): Record<string, ExpressionValue> {
    const pullRequest =
      event.event === 'pull_request'
        ? { number: PR_NUMBER, labels: (event.labels ?? []).map((name) => ({ name })), head: { repo: { full_name: event.headRepository ?? REPOSITORY } } }
        : null;
    return {
      event_name: event.event,
      base_ref: event.event === 'pull_request' ? (event.baseRef ?? 'main') : '',
      ref: event.event === 'push' ? 'refs/heads/main' : `refs/pull/${PR_NUMBER}/merge`,
      ref_name: event.event === 'push' ? 'main' : `${PR_NUMBER}/merge`,
      repository: REPOSITORY,
      sha: event.sha ?? '',
      token: 'test-token',
      action_path: ACTION_PATH,
      event: pullRequest ? { pull_request: pullRequest } : {},
    };
  }

  async #runAction(
    withInputs: Record<string, string>,
    github: Record<string, ExpressionValue>,
    paths: string[],
    summaryFile: string,
    event: JobEvent,
  ): Promise<{ steps: StepRecord[]; outputs: Record<string, string>; log: string; failed: boolean }> {
    for (const key of Object.keys(withInputs)) if (!Object.hasOwn(this.action.inputs, key)) throw new Error(`the workflow passes "${key}", which the action has no input for`);
    const inputs: Record<string, string> = {};
    const base: ExpressionScope = { contexts: { github }, failed: false };
    for (const [key, spec] of Object.entries(this.action.inputs)) inputs[key] = withInputs[key] ?? interpolate(spec.default ?? '', base);
    const stepsContext: Record<string, ExpressionValue> = {};
    const records: StepRecord[] = [];
    let log = '';
    let failed = false;
    for (const step of this.action.runs.steps) {
      const scope: ExpressionScope = { contexts: { github, inputs, steps: stepsContext, runner: { temp: this.runnerTemp } }, failed };
      const name = step.name ?? step.uses ?? 'run';
      if (!condition(step.if, scope)) {
        if (step.id) stepsContext[step.id] = { outputs: {}, outcome: 'skipped', conclusion: 'skipped' };
        continue;
      }
      const env = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, interpolate(v, scope)]));
      const expanded = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, interpolate(String(v), scope)]));
      let record: StepRecord;
      if (step.run !== undefined) {
        if (step.shell !== 'bash') throw new Error(`${name}: a composite run step needs shell: bash`);
        const cwd = join(this.repo, interpolate(step['working-directory'] ?? '.', scope));
        record = await this.#runShell(name, step.id, step.run, cwd, env, paths, summaryFile, event);
      } else if (step.uses === 'actions/github-script@v7') {
        record = await this.#runGithubScript(name, step.id, String(step.with?.['script'] ?? ''), env, expanded);
      } else {
        record = { name, id: step.id, ran: false, uses: step.uses, with: expanded, code: 0, stdout: '', stderr: '', outputs: {} };
      }
      records.push(record);
      log += record.stdout;
      if (record.code !== 0) failed = true;
      if (step.id) stepsContext[step.id] = { outputs: record.outputs, outcome: record.code === 0 ? 'success' : 'failure', conclusion: record.code === 0 ? 'success' : 'failure' };
    }
    const scope: ExpressionScope = { contexts: { github, inputs, steps: stepsContext }, failed };
    const outputs = Object.fromEntries(Object.entries(this.action.outputs).map(([k, v]) => [k, interpolate(v.value, scope)]));
    return { steps: records, outputs, log, failed };
  }

  async #runShell(name: string, id: string | undefined, script: string, cwd: string, stepEnv: Record<string, string>, paths: string[], summaryFile: string, event: JobEvent): Promise<StepRecord> {
    const outputFile = join(this.runnerTemp, `output-${++this.#counter}`);
    const pathFile = join(this.runnerTemp, `path-${this.#counter}`);
    await writeFile(outputFile, '');
    await writeFile(pathFile, '');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['FORCE_COLOR'];
    for (const key of Object.keys(env)) if (/^npm_/i.test(key)) delete env[key];
    Object.assign(env, {
      PATH: [...paths, process.env['PATH'] ?? ''].join(':'),
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      RUNNER_TEMP: this.runnerTemp,
      GITHUB_OUTPUT: outputFile,
      GITHUB_PATH: pathFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_WORKSPACE: this.repo,
      GITHUB_ACTION_PATH: ACTION_PATH,
      GITHUB_SHA: event.sha ?? '',
      GITHUB_REF_NAME: event.event === 'push' ? 'main' : `${PR_NUMBER}/merge`,
      ...stepEnv,
    });
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      execFile('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (error, out, err) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ code: error ? (error.code as number) : 0, stdout: out, stderr: err });
      });
    });
    const outputs: Record<string, string> = {};
    for (const line of (await readFile(outputFile, 'utf8')).split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) outputs[line.slice(0, at)] = line.slice(at + 1);
    }
    for (const line of (await readFile(pathFile, 'utf8')).split('\n')) if (line.trim()) paths.unshift(line.trim());
    return { name, id, ran: true, uses: undefined, with: {}, code, stdout, stderr, outputs };
  }

  async #runGithubScript(name: string, id: string | undefined, script: string, env: Record<string, string>, expanded: Record<string, string>): Promise<StepRecord> {
    const thread = this.thread;
    const github = {
      paginate: async () => thread.comments.map((c) => ({ ...c })),
      rest: {
        issues: {
          listComments: () => undefined,
          createComment: async ({ body, issue_number }: { body: string; issue_number: number }) => {
            thread.calls.push(`create on #${issue_number}`);
            thread.comments.push({ id: thread.comments.length + 1, body, user: { type: 'Bot' } });
          },
          updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
            thread.calls.push(`update ${comment_id}`);
            thread.comments.find((c) => c.id === comment_id)!.body = body;
          },
        },
      },
    };
    const context = { repo: { owner: REPOSITORY.split('/')[0], repo: REPOSITORY.split('/')[1] }, issue: { number: PR_NUMBER } };
    const scriptProcess = { env: { ...process.env, ...env } };
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
    try {
      await new AsyncFunction('require', 'github', 'context', 'process', script)(createRequire(import.meta.url), github, context, scriptProcess);
      return { name, id, ran: true, uses: 'actions/github-script@v7', with: expanded, code: 0, stdout: '', stderr: '', outputs: {} };
    } catch (error) {
      return { name, id, ran: true, uses: 'actions/github-script@v7', with: expanded, code: 1, stdout: '', stderr: String(error), outputs: {} };
    }
  }
}

/** Parses a YAML or JSON file of the repository (a workflow, action.yml). */
export async function readYaml<T>(file: string): Promise<T> {
  const { document, diagnostics } = parseSourceDocument(await readFile(file, 'utf8'), file);
  if (!document) throw new Error(`${file} does not parse: ${diagnostics.map((d) => d.message).join('; ')}`);
  return document.value as T;
}

/** The Tollgate action of this repository. */
export function readAction(): Promise<CompositeAction> {
  return readYaml<CompositeAction>(join(ACTION_PATH, 'action.yml'));
}

/** A runner for the policy-review workflow in `repo` (as `tollgate init` wrote it), with a fresh RUNNER_TEMP under `scratch`. */
export async function workflowRunner(repo: string, scratch: string): Promise<WorkflowRunner> {
  const runnerTemp = join(scratch, `runner-temp-${Date.now()}`);
  await (await import('node:fs/promises')).mkdir(runnerTemp, { recursive: true });
  return new WorkflowRunner(repo, await readYaml<Workflow>(join(repo, '.github/workflows/policy-review.yml')), await readAction(), runnerTemp);
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
