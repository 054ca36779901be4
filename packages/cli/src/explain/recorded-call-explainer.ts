import { REDACTED, type LedgerConnection, type LedgerEventRow } from '@tollgate/ledger';
import {
  MemoryLimitStore,
  canonicalJson,
  plannedCounters,
  seedCounters,
  sha256Hex,
  traceDecision,
  type ApprovalState,
  type Decision,
  type DecisionTrace,
  type LimitState,
  type ToolCall,
  type TraceEvaluation,
} from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { withLedger } from '../ledger/ledger-command-support.js';
import { parseLabels } from './call-evaluator.js';
import { findPolicyByDigest, type PolicyProvenance } from './policy-revision-finder.js';
import { counterIdentity, readApproval, readCallDecisions, readEarlierCounters, type ApprovalEvidence, type CounterEvidence } from './recorded-call-reader.js';
import { traceReportOf, type CounterSource, type TraceReport } from './trace-report.js';

/** What `tollgate explain` needs: the call, the ledger, and where the policies are. */
export interface ExplainOptions {
  readonly cwd: string;
  readonly callId: string;
  readonly databaseUrl?: string;
  readonly dataDir: string;
  /** The policy repository (default: the working directory). */
  readonly repo?: string;
  /** The policies directory inside it (default `policies`). */
  readonly dir: string;
  /** The committed bundle inside it (default `bundles/bundle.json`). */
  readonly bundlePath: string;
  /** `key=value` labels the agent had: the ledger does not record them. */
  readonly labels?: readonly string[];
}

/** The recorded decision, as the ledger has it. */
export interface RecordedDecision {
  readonly event_id: string;
  readonly occurred_at: string;
  readonly server: string;
  readonly tool: string;
  readonly agent_id: string | null;
  readonly session_id: string | null;
  readonly args: unknown;
  readonly args_sha256: string | null;
  readonly effect: string;
  readonly rule: string | null;
  readonly reason: string | null;
  /** `detail.code` (null for an allow, or when it was not recorded). */
  readonly code: string | null;
  readonly policy_revision: string | null;
  readonly policy_digest: string | null;
  readonly approval_id: string | null;
  readonly shadow_effect: string | null;
  readonly shadow_rule: string | null;
  /** The limit states the decision consulted (`detail.limits`), when it reached the limits. */
  readonly limits: readonly LimitState[] | null;
}

/** A counter the re-derived decision started from, and where its value came from. */
export interface ReplayedCounter {
  readonly rule: string;
  readonly counter: string;
  readonly scope: string;
  readonly scope_id: string;
  readonly window: number;
  readonly window_start: number;
  readonly shadow_counter: boolean;
  /** The value put in place before the call (0 when unknown). */
  readonly used_before: number;
  readonly source: CounterSource;
}

/** How exactly the call could be replayed, part by part. */
export interface ReplayFidelity {
  /** Everything that decided the call was recorded and replayed as it was. */
  readonly exact: boolean;
  /** `exact` when the recorded arguments hash to the recorded `args_sha256`; else the paths found redacted. */
  readonly arguments: { readonly exact: boolean; readonly redacted: readonly string[]; readonly restored_non_finite: readonly string[] };
  /** The ledger never records labels: those given with --label, and the label paths the trace read. */
  readonly labels: { readonly given: Readonly<Record<string, string>> | null; readonly read: readonly string[] };
  readonly approval: ApprovalEvidence | null;
  readonly counters: readonly ReplayedCounter[];
  /** The catalog whose input schemas checked the arguments (the gateway checked the schema the upstream advertised then). */
  readonly input_schema: string | null;
  /** The gateway refused the call itself (`gateway.*`), not a rule of the policy. */
  readonly gateway_refusal: boolean;
}

/** The report `tollgate explain` prints (and `--json` emits). */
export interface ExplainReport {
  readonly call_id: string;
  readonly recorded: RecordedDecision;
  /** Decision events recorded for the call; the last one is explained. */
  readonly decisions: number;
  readonly policy: { readonly file: string; readonly catalog: string | null; readonly digest: string; readonly revision: number | null; readonly source: PolicyProvenance };
  /** The call as replayed. */
  readonly call: ToolCall;
  /** The decision time: when the ledger recorded it. */
  readonly at: string;
  readonly replay: ReplayFidelity;
  /** What cannot be replayed exactly, and anything else worth knowing, in words. */
  readonly notes: readonly string[];
  /** The decision re-derived under that policy. */
  readonly decision: Decision;
  readonly agreement: { readonly agrees: boolean; readonly differences: readonly string[] };
  readonly trace: TraceReport;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function recordedOf(row: LedgerEventRow): RecordedDecision {
  const code = row.detail?.['code'];
  const limits = row.detail?.['limits'];
  return {
    event_id: row.event_id,
    occurred_at: row.occurred_at,
    server: row.server!,
    tool: row.tool!,
    agent_id: row.agent_id,
    session_id: row.session_id,
    args: row.args,
    args_sha256: row.args_sha256,
    effect: row.effect!,
    rule: row.rule,
    reason: row.reason,
    code: typeof code === 'string' ? code : null,
    policy_revision: row.policy_revision,
    policy_digest: row.policy_digest,
    approval_id: row.approval_id,
    shadow_effect: row.shadow_effect ?? null,
    shadow_rule: row.shadow_rule ?? null,
    limits: Array.isArray(limits) ? (limits as unknown as LimitState[]) : null,
  };
}

/** Every path (`args.a.b`, `args.l[0]`) at which a value is the redaction placeholder. */
function redactedPaths(value: unknown, path = 'args'): string[] {
  if (value === REDACTED) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => redactedPaths(v, `${path}[${i}]`));
  if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => redactedPaths(v, `${path}.${k}`));
  return [];
}

/**
 * The gateway records a non-finite number (refused as invalid arguments) as its name, a string
 * (`"Infinity"`), and lists its path in `detail.non_finite`: put the number back.
 */
function restoreNonFinite(args: Record<string, unknown>, paths: readonly string[]): string[] {
  const restored: string[] = [];
  for (const path of paths) {
    const segments = [...path.slice('args'.length).matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[1] !== undefined ? m[1] : Number(m[2])));
    let parent: unknown = args;
    for (const s of segments.slice(0, -1)) parent = isObject(parent) || Array.isArray(parent) ? (parent as Record<string | number, unknown>)[s] : undefined;
    const last = segments.at(-1);
    if (last === undefined || !(isObject(parent) || Array.isArray(parent))) continue;
    const holder = parent as Record<string | number, unknown>;
    const text = holder[last];
    if (text === 'Infinity' || text === '-Infinity' || text === 'NaN') {
      holder[last] = Number(text);
      restored.push(path);
    }
  }
  return restored;
}

/** The label paths (`agent.labels.team`) whose conditions `decide` evaluated for the call. */
function labelPathsRead(trace: DecisionTrace): string[] {
  const paths = new Set<string>();
  const scan = (e: TraceEvaluation): void => {
    for (const step of e.steps) for (const rule of step.rules ?? []) for (const c of rule.conditions) if (c.evaluated && c.path.startsWith('agent.labels.')) paths.add(c.path);
  };
  scan(trace.enforced);
  if (trace.shadow) scan(trace.shadow);
  return [...paths].sort();
}

function sameCounter(a: { rule: string }, b: { rule: string }): boolean {
  return a.rule === b.rule;
}

function compare(recorded: RecordedDecision, decision: Decision): string[] {
  const differences: string[] = [];
  if (recorded.rule?.startsWith('gateway.')) {
    differences.push(`the gateway refused the call itself (${recorded.rule}: ${recorded.reason ?? 'no reason recorded'}), before or instead of its policy's decision`);
  }
  if (recorded.effect !== decision.effect) differences.push(`effect: recorded ${recorded.effect}, re-derived ${decision.effect}`);
  if (recorded.rule !== decision.rule) differences.push(`rule: recorded ${recorded.rule ?? 'none'}, re-derived ${decision.rule ?? 'none'}`);
  if (recorded.code !== null && recorded.code !== decision.code) differences.push(`code: recorded ${recorded.code}, re-derived ${decision.code ?? 'none'}`);
  const shadowEffect = decision.shadow?.effect ?? null;
  const shadowRule = decision.shadow?.rule ?? null;
  if (recorded.shadow_effect !== shadowEffect) differences.push(`shadow effect: recorded ${recorded.shadow_effect ?? 'none'}, re-derived ${shadowEffect ?? 'none'}`);
  else if (shadowEffect !== null && recorded.shadow_rule !== shadowRule) differences.push(`shadow rule: recorded ${recorded.shadow_rule ?? 'none'}, re-derived ${shadowRule ?? 'none'}`);
  for (const r of recorded.limits ?? []) {
    const d = decision.limits?.find((l) => sameCounter(l, r));
    if (d === undefined) differences.push(`limit ${r.rule}: recorded at ${r.used} of ${r.max}, not consulted when re-derived`);
    else if (d.used !== r.used) differences.push(`limit ${r.rule} ("${r.counter}"): recorded at ${r.used} of ${r.max}, re-derived at ${d.used}`);
  }
  return differences;
}

function counterSourceOf(evidence: CounterEvidence | undefined): CounterSource {
  if (evidence === undefined) return { source: 'unknown', why: 'not found in the ledger' };
  return 'unknown' in evidence ? { source: 'unknown', why: evidence.unknown } : { source: 'ledger', decisions: evidence.decisions };
}

function notesOf(report: Omit<ExplainReport, 'notes' | 'agreement' | 'trace' | 'decision'>, labelsRead: readonly string[], decisions: number): string[] {
  const notes: string[] = [];
  const r = report.replay;
  if (decisions > 1) notes.push(`The call has ${decisions} decisions in the ledger (e.g. asked for an approval, then decided again); the last one is explained.`);
  if (r.gateway_refusal) notes.push(`The gateway refused this call itself (${report.recorded.rule}); the trace shows what its policy decides, which the gateway did not go by.`);
  if (!r.arguments.exact) {
    notes.push(
      r.arguments.redacted.length > 0
        ? `Arguments were redacted in the ledger (${r.arguments.redacted.join(', ')}): the replay sees "${REDACTED}" there, so conditions and limits on them may decide otherwise than they did.`
        : 'The recorded arguments do not hash to the recorded args_sha256, so they are not the ones decided: the replay may differ.',
    );
  }
  if (r.arguments.restored_non_finite.length > 0) notes.push(`Non-finite numbers recorded as strings were restored (${r.arguments.restored_non_finite.join(', ')}).`);
  if (r.labels.given === null) {
    notes.push(
      labelsRead.length > 0
        ? `The ledger does not record agent labels, and the decision read ${labelsRead.join(', ')}: the replay ran without labels (pass --label key=value to give the agent's).`
        : 'The ledger does not record agent labels; this decision read none, so it does not depend on them.',
    );
  } else {
    notes.push(`Agent labels are not recorded; the replay used the ones given with --label (${Object.entries(r.labels.given).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}).`);
  }
  for (const c of r.counters) {
    const what = `"${c.counter}" (${c.rule}, ${c.scope}${c.scope_id ? ` ${c.scope_id}` : ''}${c.shadow_counter ? ', shadow counter' : ''})`;
    if (c.source.source === 'ledger') notes.push(`Counter ${what} was re-derived from ${c.source.decisions} earlier allowed decision${c.source.decisions === 1 ? '' : 's'} in its window: ${c.used_before} before the call.`);
    else if (c.source.source === 'unknown') notes.push(`Counter ${what} is unknown (${c.source.why}); the replay assumed 0.`);
  }
  if (r.counters.some((c) => c.source.source === 'ledger')) {
    notes.push('Re-derived counters assume one limit store for every gateway writing this ledger (the PostgreSQL store); an in-memory store forgets its counts when its gateway restarts.');
  }
  if (r.approval) {
    notes.push(
      r.approval.source === 'ledger'
        ? `Approval ${r.approval.state.id} was ${r.approval.state.status} (event ${r.approval.event_id}).`
        : `Approval ${r.approval.state.id}: no resolution event found before the decision; taken as ${r.approval.state.status} from the decision itself.`,
    );
  }
  notes.push(
    r.input_schema
      ? `Arguments were checked against ${r.input_schema}; the gateway checked the input schema its upstream advertised at the time.`
      : 'No catalog was found with the policy, so the arguments were not checked against an input schema; the gateway checked the one its upstream advertised.',
  );
  notes.push(`The decision time is when the ledger recorded the decision (${report.at}); it places the call in its limit windows.`);
  return notes;
}

/**
 * `tollgate explain <call_id>`: the trace of a call recorded in the ledger, under the policy
 * that decided it. The decision event gives the policy's digest and revision; the policy is
 * found by digest in the working tree or the policy repository's history (see
 * `findPolicyByDigest`). The call is rebuilt from the event (arguments, agent, session, the
 * approval it went by) with its limit counters re-derived from the ledger's earlier decisions,
 * decided again and traced; the report says what could not be replayed exactly and whether the
 * recorded and re-derived decisions agree.
 *
 * @throws CliError exit 2 `explain.unknown-call`, `explain.no-policy` (a refusal made with no
 *   policy in force), `explain.policy-not-found`, and the ledger's errors (unreachable, not migrated).
 */
export async function explainRecordedCall(options: ExplainOptions): Promise<ExplainReport> {
  const labels = options.labels && options.labels.length > 0 ? parseLabels(options.labels) : null;
  return withLedger({ 'database-url': options.databaseUrl, 'data-dir': options.dataDir }, (connection) => explainWith(connection, options, labels));
}

async function explainWith(connection: LedgerConnection, options: ExplainOptions, labels: Record<string, string> | null): Promise<ExplainReport> {
  const rows = await readCallDecisions(connection, options.callId);
  const row = rows.at(-1);
  if (row === undefined || row.server === null || row.tool === null || row.effect === null) {
    throw new CliError('explain.unknown-call', `no decision with call id "${options.callId}" in the ledger ${connection.location}`, {
      exit: ExitCode.input,
      hint: 'Find call ids with `tollgate ledger query` (the call_id column); a refused call\'s id is the decision_id the agent was given.',
    });
  }
  const recorded = recordedOf(row);
  if (recorded.policy_digest === null) {
    throw new CliError('explain.no-policy', `call "${options.callId}" was refused by the gateway with no policy in force (${recorded.rule ?? 'no rule'}: ${recorded.reason ?? ''}): there is no policy decision to explain`, {
      exit: ExitCode.input,
      hint: `Give the gateway a policy for upstream "${recorded.server}".`,
    });
  }
  const found = await findPolicyByDigest({ cwd: options.cwd, dir: options.dir, bundlePath: options.bundlePath, server: recorded.server, digest: recorded.policy_digest, revision: recorded.policy_revision, ...(options.repo !== undefined ? { repo: options.repo } : {}) });
  const compiled = found.policy.policy;

  const args = isObject(row.args) ? (structuredClone(row.args) as Record<string, unknown>) : {};
  const exact = row.args_sha256 === null || (isObject(row.args) && sha256Hex(canonicalJson(row.args)) === row.args_sha256);
  const nonFinite = row.detail?.['non_finite'];
  const restored = Array.isArray(nonFinite) ? restoreNonFinite(args, nonFinite.filter((p): p is string => typeof p === 'string')) : [];
  const call: ToolCall = {
    tool: recorded.tool,
    args,
    ...(recorded.agent_id !== null ? { agent: labels ? { id: recorded.agent_id, labels } : { id: recorded.agent_id } } : {}),
    ...(recorded.session_id !== null ? { session: { id: recorded.session_id } } : {}),
  };
  const now = Date.parse(recorded.occurred_at);

  const approval = await readApproval(connection, row);
  const planned = plannedCounters(compiled, call, now);
  const evidence = await readEarlierCounters(connection, row, planned);
  const counters: ReplayedCounter[] = planned.map((c) => {
    const e = evidence.get(counterIdentity(c));
    return {
      rule: c.rule,
      counter: c.counter,
      scope: c.scope,
      scope_id: c.scope_id,
      window: c.window,
      window_start: c.window_start,
      shadow_counter: c.shadow_counter,
      used_before: e !== undefined && 'used' in e ? e.used : 0,
      source: counterSourceOf(e),
    };
  });
  const limits = new MemoryLimitStore();
  seedCounters(limits, planned.map((counter, i) => ({ counter, used: counters[i]!.used_before })), now);
  const state: ApprovalState | undefined = approval?.state;
  const trace = traceDecision(compiled, call, { now, limits, ...(state ? { approvals: () => state } : {}) });
  const byIdentity = new Map(counters.map((c) => [counterIdentity(c), c.source]));
  const report = traceReportOf(trace, (l) => byIdentity.get(counterIdentity(l)) ?? { source: 'unknown', why: 'not found in the ledger' });

  const labelsRead = labelPathsRead(trace);
  const argumentsExact = exact;
  const replay: ReplayFidelity = {
    exact: argumentsExact && (labels !== null || labelsRead.length === 0) && counters.every((c) => c.source.source !== 'unknown') && !recorded.rule?.startsWith('gateway.'),
    arguments: { exact: argumentsExact, redacted: argumentsExact ? [] : redactedPaths(row.args), restored_non_finite: restored },
    labels: { given: labels, read: labelsRead },
    approval,
    counters,
    input_schema: found.policy.catalog,
    gateway_refusal: recorded.rule?.startsWith('gateway.') ?? false,
  };
  const base = {
    call_id: options.callId,
    recorded,
    decisions: rows.length,
    policy: { file: found.policy.file, catalog: found.policy.catalog, digest: compiled.digest, revision: compiled.revision, source: found.provenance },
    call,
    at: new Date(now).toISOString(),
    replay,
  };
  const differences = compare(recorded, trace.decision);
  return { ...base, notes: notesOf(base, labelsRead, rows.length), decision: trace.decision, agreement: { agrees: differences.length === 0, differences }, trace: report };
}
