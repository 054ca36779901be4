import { MemoryLimitStore, TEST_AGENT, TEST_SESSION, parseSourceDocument, traceDecision, type ApprovalLookup, type ApprovalState, type Decision, type ToolCall } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { compileServerPolicy, readServerPolicyText, type ServerPolicy } from './server-policy-loader.js';
import { traceReportOf, type TraceReport } from './trace-report.js';

/** The approval states `tollgate eval --approval` can pretend a call has. */
export const EVAL_APPROVALS = ['granted', 'denied', 'expired'] as const;

/** One of {@link EVAL_APPROVALS}. */
export type EvalApproval = (typeof EVAL_APPROVALS)[number];

/** The id of the approval `--approval` stands for (the decision's `approval_id`). */
export const EVAL_APPROVAL_ID = 'eval-approval';

/** What `tollgate eval` decides: one ad-hoc call against a server's policy in the working tree. */
export interface EvalOptions {
  readonly cwd: string;
  /** The policies directory (`--dir`, default `policies`). */
  readonly dir: string;
  readonly server: string;
  readonly tool: string;
  /** The arguments as JSON text (`--args`, default `{}`). */
  readonly args: string;
  /** The agent id (default `test-agent`, as in `tollgate test`). */
  readonly agent?: string;
  /** `key=value` labels of the agent. */
  readonly labels?: readonly string[];
  /** The session id (default `test-session`). */
  readonly session?: string;
  /** The decision time (default now); it places the call in its limit windows. */
  readonly at?: Date;
  /** Decide as though an approval for the call was granted, denied or had expired. */
  readonly approval?: EvalApproval;
  /** Build the step-by-step trace too. */
  readonly explain?: boolean;
}

/** The report `tollgate eval` prints (and `--json` emits). */
export interface EvalReport {
  readonly server: string;
  readonly policy: { readonly file: string; readonly catalog: string | null; readonly digest: string; readonly revision: number | null };
  readonly call: ToolCall;
  /** The decision time, ISO 8601. */
  readonly at: string;
  /** Limit counters start empty, in memory: an ad-hoc call is the first in its windows. */
  readonly counters: 'fresh';
  readonly approval: EvalApproval | null;
  readonly decision: Decision;
  /** With `--explain`: every step of the evaluation order. */
  readonly trace: TraceReport | null;
}

/**
 * Parses `--args`: a JSON object. A syntax error is reported with its line and column in the
 * flag's text.
 *
 * @throws CliError exit 2 `eval.invalid-args`.
 */
export function parseArgumentsFlag(text: string): Record<string, unknown> {
  const parsed = parseSourceDocument(text, '--args', { format: 'json', maxDiagnostics: 1 });
  if (!parsed.document) {
    const d = parsed.diagnostics[0];
    throw new CliError('eval.invalid-args', `--args is not valid JSON${d ? ` at line ${d.line}, column ${d.column}: ${d.message}` : ''}`, {
      exit: ExitCode.input,
      hint: `Quote the JSON for your shell, e.g. --args '{"exchange_id": "binance", "amount": 0.5}'.`,
    });
  }
  const value = parsed.document.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError('eval.invalid-args', `--args must be a JSON object of the tool's arguments (got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`, {
      exit: ExitCode.input,
      hint: `Pass an object, e.g. --args '{"amount": 0.5}' (or '{}' for none).`,
    });
  }
  return value as Record<string, unknown>;
}

/**
 * Parses `--label key=value` flags into agent labels.
 *
 * @throws CliError exit 2 `eval.invalid-label` for a flag without `=` or with an empty key, or a key given twice.
 */
export function parseLabels(labels: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const label of labels) {
    const at = label.indexOf('=');
    if (at <= 0) {
      throw new CliError('eval.invalid-label', `--label "${label}" is not key=value`, { exit: ExitCode.input, hint: 'Give each label as --label key=value, e.g. --label team=desk.' });
    }
    const key = label.slice(0, at);
    if (Object.hasOwn(out, key)) throw new CliError('eval.invalid-label', `--label "${key}" is given twice`, { exit: ExitCode.input, hint: 'Give each label key once.' });
    Object.defineProperty(out, key, { value: label.slice(at + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function approvalLookup(approval: EvalApproval | undefined): ApprovalLookup | undefined {
  if (approval === undefined) return undefined;
  const state: ApprovalState = approval === 'denied' ? { status: 'denied', id: EVAL_APPROVAL_ID, approver: 'eval-approver' } : { status: approval, id: EVAL_APPROVAL_ID };
  return () => state;
}

/**
 * `tollgate eval`: decides one call against `<dir>/<server>/policy.{json,yaml,yml}` (with its
 * catalog's input schemas, as `tollgate test` loads it), with fresh in-memory limit counters,
 * and with `explain` the trace of every step.
 *
 * @throws CliError exit 2 for an unknown server, bad `--args` (with its position), a bad label,
 *   or an invalid policy or catalog (with file:line:col).
 * @example
 * const report = await evaluateCall({ cwd, dir: 'policies', server: 'ccxt', tool: 'cancel_order', args: '{"id":"42"}' });
 * report.decision.effect // 'deny'
 */
export async function evaluateCall(options: EvalOptions): Promise<EvalReport> {
  const args = parseArgumentsFlag(options.args);
  const labels = parseLabels(options.labels ?? []);
  const loaded: ServerPolicy = compileServerPolicy(await readServerPolicyText(options.dir, options.server, options.cwd));
  const agentId = options.agent ?? TEST_AGENT.id;
  const call: ToolCall = {
    tool: options.tool,
    args,
    agent: Object.keys(labels).length > 0 ? { id: agentId, labels } : { id: agentId },
    session: { id: options.session ?? TEST_SESSION.id },
  };
  const now = (options.at ?? new Date()).getTime();
  const approvals = approvalLookup(options.approval);
  const context = { now, limits: new MemoryLimitStore(), ...(approvals ? { approvals } : {}) };
  let decision: Decision;
  let trace: TraceReport | null = null;
  if (options.explain) {
    const traced = traceDecision(loaded.policy, call, context);
    decision = traced.decision;
    trace = traceReportOf(traced, () => ({ source: 'fresh' }));
  } else {
    decision = loaded.policy.decide(call, context);
  }
  return {
    server: loaded.server,
    policy: { file: loaded.file, catalog: loaded.catalog, digest: loaded.policy.digest, revision: loaded.policy.revision },
    call,
    at: new Date(now).toISOString(),
    counters: 'fresh',
    approval: options.approval ?? null,
    decision,
    trace,
  };
}
