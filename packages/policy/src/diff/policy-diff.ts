import type { Catalog, CatalogTool } from '../catalog/catalog.js';
import { findCatalogTool } from '../catalog/catalog.js';
import type { ApprovalRequirement, Decision, Effect, ToolCall } from '../evaluate/decision.js';
import { MemoryLimitStore } from '../evaluate/limit-store.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import { RISK_LEVELS, toolRisk, type RiskCategory, type RiskLevel } from '../catalog/risk-classifier.js';
import { TEST_EPOCH } from '../test-runner.js';
import { generateExampleCalls, SECOND_AGENT, SECOND_SESSION, withAmounts, type SequenceShape } from './example-call-generator.js';
import { compareApprovals, DEFAULT_APPROVAL_TIMEOUT_MS, type ApprovalField } from './approval-comparison.js';
import { diffPolicyStructure, type StructuralChange } from './structural-diff.js';

/** One server's policy on one side of a diff, with the catalog beside it when there is one. */
export interface PolicySetEntry {
  readonly server: string;
  readonly policy: CompiledPolicy;
  readonly catalog?: Catalog | undefined;
}

/** Options of {@link diffPolicySets}. */
export interface PolicyDiffOptions {
  /** Most example calls kept per tool (default 3). */
  readonly maxExamples?: number;
  /** Most single calls decided per tool (default 5000). */
  readonly maxCalls?: number;
  /**
   * Whether the gateway would pass these arguments to the policy at all: it refuses a call whose
   * arguments do not match the tool's `inputSchema` (`invalid_arguments`) before any rule is
   * consulted, so such calls cannot flip. Given a catalog tool, candidate calls it rejects are
   * left out (the CLI passes the gateway's own validator); without it every candidate counts.
   */
  readonly admits?: (tool: CatalogTool, args: Readonly<Record<string, unknown>>) => boolean;
  /**
   * What an approval rule without `timeout` is compared as (default 10 minutes, the gateway's
   * default `approvals.timeout`): set it to the gateway's configured value when that differs.
   */
  readonly defaultApprovalTimeoutMs?: number;
}

/** How a tool's decisions moved: `wider` (some call is allowed more), `narrower`, `both`, or `unchanged`. */
export type ToolChange = 'wider' | 'narrower' | 'both' | 'unchanged';

/** The part of a decision a diff shows. */
export interface DecisionSummary {
  readonly effect: Effect;
  readonly rule: string | null;
  readonly reason: string;
}

/** How many identical calls preceded an example call of a limit probe, and how. */
export interface PrecedingCalls {
  /** Calls made before the example call (with the same arguments). */
  readonly calls: number;
  /** Seconds between consecutive calls (0: all at once). */
  readonly interval_seconds: number;
  /** Whether consecutive calls alternated between two agents or two sessions. */
  readonly alternating: 'agent' | 'session' | null;
}

/** How the approval a call needs changed, when both policies hold it for approval. */
export interface ApprovalFlip {
  /** What made the approval easier to get (for a `wider` flip) or harder (for a `narrower` one). */
  readonly fields: readonly ApprovalField[];
  readonly base: ApprovalRequirement;
  readonly head: ApprovalRequirement;
}

/** A call decided differently by the two policies: proof that a tool got wider or narrower. */
export interface FlipExample {
  readonly direction: 'wider' | 'narrower';
  readonly call: ToolCall;
  readonly base: DecisionSummary;
  readonly head: DecisionSummary;
  /** For a limit probe: the identical calls made before this one in the same window. */
  readonly preceded_by?: PrecedingCalls;
  /**
   * For a call both policies hold for approval (`approval_required` on both sides): the
   * requirements, and the fields (`min_approvals`, `approvers`, `timeout`) that made approval
   * easier or harder to get. Absent for a flip of the effect.
   */
  readonly approval?: ApprovalFlip;
}

/** The semantic comparison of one tool. */
export interface ToolDiff {
  /** The tool name; `*` stands for every tool neither the policies nor the catalog name. */
  readonly tool: string;
  readonly risk: RiskLevel;
  readonly category: RiskCategory;
  /** Where the risk comes from: the catalog's reviewed class, or the name/annotation classifier. */
  readonly risk_source: 'catalog' | 'classifier';
  readonly change: ToolChange;
  /** Calls decided under both policies (single calls plus limit probes). */
  readonly checked: number;
  /** Calls (and probes) that one policy treats more permissively than the other. */
  readonly wider: number;
  readonly narrower: number;
  readonly examples: readonly FlipExample[];
}

/** The diff of one server's policy. */
export interface ServerDiff {
  readonly server: string;
  readonly status: 'added' | 'removed' | 'changed' | 'unchanged';
  /** Digests of the policies (hex SHA-256 of canonical JSON); null on the side without it. */
  readonly base_digest: string | null;
  readonly head_digest: string | null;
  readonly changes: readonly StructuralChange[];
  /** Every tool compared, sorted by name (`*` last). */
  readonly tools: readonly ToolDiff[];
}

/** The result of {@link diffPolicySets}. */
export interface PolicySetDiff {
  readonly servers: readonly ServerDiff[];
  readonly totals: { readonly changes: number; readonly wider: number; readonly narrower: number; readonly both: number; readonly unchanged: number };
}

/** The tool name `*` rows are decided with: one no policy can list. */
const UNLISTED_PROBE = '\u0000unlisted-tool';
/** The name shown for it. */
export const UNLISTED_TOOL = '*';

/**
 * The order of effects a diff ranks by: hidden and deny (0) < approval_required (1) < allow (2).
 * A call whose rank rises from base to head makes its tool wider.
 */
export function effectRank(effect: Effect): number {
  return effect === 'allow' ? 2 : effect === 'approval_required' ? 1 : 0;
}

function summary(d: Decision): DecisionSummary {
  return { effect: d.effect, rule: d.rule, reason: d.reason };
}

function noPolicy(server: string): Decision {
  return { effect: 'deny', rule: null, reason: `no policy for server "${server}"`, code: 'policy.denied', revision: null, digest: '' };
}

/**
 * Compares two policy sets (e.g. the policies at `origin/main` and in the working tree):
 * per server the structural edits ({@link diffPolicyStructure}), then per tool whether it
 * became wider, narrower or both. Each tool's candidate calls ({@link generateExampleCalls})
 * are decided under both policies, each with a fresh in-memory limit store at a fixed time
 * ({@link TEST_EPOCH}); limit probes repeat an admitted call past each policy's max. A call
 * whose effect ranks higher under head ({@link effectRank}) is a `wider` flip; lower, a
 * `narrower` one. A call both policies hold for approval whose approval got easier to get
 * (fewer `min_approvals`, more approvers, a longer `timeout`: {@link compareApprovals}) is a
 * `wider` flip too, harder a `narrower` one (a call can be both). Examples are real decisions,
 * the most boundary ones first. A server on one side only is compared with "no policy" (every
 * call denied). Approvals are not granted.
 *
 * @example
 * const diff = diffPolicySets([{ server: 'ccxt', policy: base }], [{ server: 'ccxt', policy: head }]);
 * diff.servers[0].tools.find((t) => t.change === 'wider')?.examples[0]?.call
 */
export function diffPolicySets(base: readonly PolicySetEntry[], head: readonly PolicySetEntry[], options: PolicyDiffOptions = {}): PolicySetDiff {
  const b = new Map(base.map((e) => [e.server, e]));
  const h = new Map(head.map((e) => [e.server, e]));
  const servers = [...new Set([...b.keys(), ...h.keys()])].sort().map((server) => diffServer(server, b.get(server), h.get(server), options));
  const totals = { changes: 0, wider: 0, narrower: 0, both: 0, unchanged: 0 };
  for (const s of servers) {
    totals.changes += s.changes.length;
    for (const t of s.tools) totals[t.change] += 1;
  }
  return { servers, totals };
}

function diffServer(server: string, base: PolicySetEntry | undefined, head: PolicySetEntry | undefined, options: PolicyDiffOptions): ServerDiff {
  const changes = diffPolicyStructure(server, base?.policy.policy, head?.policy.policy, options.defaultApprovalTimeoutMs !== undefined ? { defaultApprovalTimeoutMs: options.defaultApprovalTimeoutMs } : {});
  const names = new Set<string>();
  for (const side of [base, head]) {
    if (!side) continue;
    for (const t of Object.keys(side.policy.policy.tools ?? {})) names.add(t);
    for (const t of side.policy.policy.hide ?? []) if (t !== '*') names.add(t);
    for (const t of side.catalog?.tools ?? []) names.add(t.name);
  }
  const catalogTool = (name: string): CatalogTool | undefined =>
    (head?.catalog ? findCatalogTool(head.catalog, name) : undefined) ?? (base?.catalog ? findCatalogTool(base.catalog, name) : undefined);
  const tools = [...names].sort().map((name) => diffTool(server, name, name, base?.policy, head?.policy, catalogTool(name), options));
  tools.push(diffTool(server, UNLISTED_TOOL, UNLISTED_PROBE, base?.policy, head?.policy, undefined, options));
  const status = !base ? 'added' : !head ? 'removed' : changes.length > 0 || base.policy.digest !== head.policy.digest ? 'changed' : 'unchanged';
  return { server, status, base_digest: base?.policy.digest ?? null, head_digest: head?.policy.digest ?? null, changes, tools };
}

interface Flip extends FlipExample {
  readonly order: number;
}

function diffTool(
  server: string,
  shown: string,
  probe: string,
  base: CompiledPolicy | undefined,
  head: CompiledPolicy | undefined,
  catalogTool: CatalogTool | undefined,
  options: PolicyDiffOptions,
): ToolDiff {
  const risk = toolRisk(catalogTool ?? { name: shown === UNLISTED_TOOL ? '' : shown });
  const decide = (policy: CompiledPolicy | undefined, call: ToolCall, now: number, store: MemoryLimitStore): Decision =>
    policy ? policy.decide(call, { now, limits: store }) : noPolicy(server);
  const display = (call: ToolCall): ToolCall => (shown === probe ? call : { ...call, tool: shown });
  const generated = generateExampleCalls({
    tool: probe,
    policies: [base?.policy, head?.policy],
    catalogTool,
    ...(options.maxCalls !== undefined ? { maxCalls: options.maxCalls } : {}),
  });
  const flips: Flip[] = [];
  let checked = 0;
  let anchorBase: ToolCall | undefined;
  let anchorHead: ToolCall | undefined;
  const admitted = (call: ToolCall): boolean => catalogTool === undefined || options.admits === undefined || options.admits(catalogTool, call.args ?? {});
  for (const call of generated.calls) {
    if (!admitted(call)) continue;
    const db = decide(base, call, TEST_EPOCH, new MemoryLimitStore());
    const dh = decide(head, call, TEST_EPOCH, new MemoryLimitStore());
    checked += 1;
    const rb = effectRank(db.effect);
    const rh = effectRank(dh.effect);
    if (rb !== rh) flips.push({ order: flips.length, direction: rh > rb ? 'wider' : 'narrower', call: display(call), base: summary(db), head: summary(dh) });
    else if (db.approval && dh.approval) {
      // Held for approval by both: the approval itself may have become easier or harder to get.
      const compared = compareApprovals(db.approval, dh.approval, options.defaultApprovalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS);
      for (const direction of ['wider', 'narrower'] as const) {
        const fields = compared[direction];
        if (fields.length === 0) continue;
        flips.push({ order: flips.length, direction, call: display(call), base: summary(db), head: summary(dh), approval: { fields, base: db.approval, head: dh.approval } });
      }
    }
    // Limit probes repeat a call some side admits: the first allowed by base, the first allowed by head.
    if (anchorBase === undefined && db.effect === 'allow') anchorBase = call;
    if (anchorHead === undefined && dh.effect === 'allow') anchorHead = call;
  }
  const anchors = [...new Set([anchorBase, anchorHead])].filter((a): a is ToolCall => a !== undefined);
  for (const anchor of anchors) {
    for (const shape of generated.sequences) {
      if (!admitted(withAmounts(anchor, shape.amounts))) continue;
      checked += 1;
      const flip = probeSequence(anchor, shape, (p, c, now, s) => decide(p, c, now, s), base, head);
      if (flip) flips.push({ ...flip, order: flips.length, call: display(flip.call) });
    }
  }
  const wider = flips.filter((f) => f.direction === 'wider').length;
  const narrower = flips.length - wider;
  const change: ToolChange = wider > 0 && narrower > 0 ? 'both' : wider > 0 ? 'wider' : narrower > 0 ? 'narrower' : 'unchanged';
  return {
    tool: shown,
    risk: risk.level,
    category: risk.category,
    risk_source: risk.source,
    change,
    checked,
    wider,
    narrower,
    examples: pickExamples(flips, options.maxExamples ?? 3),
  };
}

type Decide = (policy: CompiledPolicy | undefined, call: ToolCall, now: number, store: MemoryLimitStore) => Decision;

/** Runs one limit probe under both policies; returns the first call whose effects rank differently. */
function probeSequence(anchor: ToolCall, shape: SequenceShape, decide: Decide, base: CompiledPolicy | undefined, head: CompiledPolicy | undefined): FlipExample | undefined {
  const storeB = new MemoryLimitStore();
  const storeH = new MemoryLimitStore();
  const call = withAmounts(anchor, shape.amounts);
  const second: ToolCall =
    shape.alternating === 'agent' ? { ...call, agent: { ...call.agent, id: SECOND_AGENT.id } } : shape.alternating === 'session' ? { ...call, session: SECOND_SESSION } : call;
  for (let i = 0; i < shape.length; i++) {
    const c = i % 2 === 1 ? second : call;
    const now = TEST_EPOCH + i * shape.interval_seconds * 1000;
    const db = decide(base, c, now, storeB);
    const dh = decide(head, c, now, storeH);
    const rb = effectRank(db.effect);
    const rh = effectRank(dh.effect);
    if (rb !== rh) {
      return {
        direction: rh > rb ? 'wider' : 'narrower',
        call: c,
        base: summary(db),
        head: summary(dh),
        preceded_by: { calls: i, interval_seconds: shape.interval_seconds, alternating: shape.alternating },
      };
    }
  }
  return undefined;
}

/**
 * Keeps a few examples: first one of each direction, then one per distinct pair of deciding
 * rules, then the earliest other single calls — earliest meaning closest to a boundary, as
 * generated.
 */
function pickExamples(flips: readonly Flip[], max: number): FlipExample[] {
  const chosen = new Set<Flip>();
  const take = (f: Flip | undefined): void => {
    if (f && chosen.size < max) chosen.add(f);
  };
  take(flips.find((f) => f.direction === 'wider'));
  take(flips.find((f) => f.direction === 'narrower'));
  const pairs = new Set([...chosen].map((f) => `${f.direction}|${f.base.rule}|${f.head.rule}`));
  for (const f of flips) {
    const key = `${f.direction}|${f.base.rule}|${f.head.rule}`;
    if (!pairs.has(key)) {
      pairs.add(key);
      take(f);
    }
  }
  // Then more single calls (limit probes of the same rules repeat what one already shows).
  for (const f of flips) if (!f.preceded_by) take(f);
  return [...chosen]
    .sort((a, b) => (a.direction === b.direction ? a.order - b.order : a.direction === 'wider' ? -1 : 1))
    .map(({ order: _order, ...example }) => example);
}

/** A tool that became wider (or both) at or above a risk level: what `--fail-on-widening` fails on. */
export interface WidenedTool {
  readonly server: string;
  readonly tool: string;
  readonly risk: RiskLevel;
  readonly change: 'wider' | 'both';
}

/** The tools of a diff that became wider or both at or above `level` (catalog/classifier risk). */
export function widenedTools(diff: PolicySetDiff, level: RiskLevel): WidenedTool[] {
  const at = RISK_LEVELS.indexOf(level);
  const out: WidenedTool[] = [];
  for (const s of diff.servers) {
    for (const t of s.tools) {
      if ((t.change === 'wider' || t.change === 'both') && RISK_LEVELS.indexOf(t.risk) <= at) out.push({ server: s.server, tool: t.tool, risk: t.risk, change: t.change });
    }
  }
  return out;
}
