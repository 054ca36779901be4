import type { ApprovalState, Decision, DecisionCode, Effect, ShadowDecision, ToolCall } from './evaluate/decision.js';
import type { Diagnostic } from './diagnostic.js';
import type { Expectation, PolicyTestFile, ShadowExpectation, TestCall } from './generated/test-file-types.js';
import { MemoryLimitStore } from './evaluate/limit-store.js';
import type { CompiledPolicy } from './evaluate/compiled-policy.js';
import { validateDocument } from './parse/schema-validator.js';
import { parseSourceDocument, pointerOf, type SourceDocument } from './parse/source-document.js';

/** The clock of every case starts here unless an `at` sets it. */
export const TEST_EPOCH = Date.parse('2026-01-01T00:00:00Z');
/** The agent a test call runs as when it names none. */
export const TEST_AGENT = Object.freeze({ id: 'test-agent' });
/** The session a case's calls share when they name none. */
export const TEST_SESSION = Object.freeze({ id: 'test-session' });
/** The approval id a call marked `"approved": true` (or with an `"approval"`) is decided with. */
export const TEST_APPROVAL_ID = 'test-approval';
/** Who denied a call marked `"approval": "denied"`. */
export const TEST_APPROVER = 'test-approver';

function testApproval(approval: 'granted' | 'denied' | 'expired'): ApprovalState {
  if (approval === 'denied') return { status: 'denied', id: TEST_APPROVAL_ID, approver: TEST_APPROVER };
  return { status: approval, id: TEST_APPROVAL_ID };
}

/** A parsed, schema-valid test file, or the diagnostics that say why it is not. */
export interface ParsedTestFile {
  readonly document: SourceDocument | undefined;
  readonly tests: PolicyTestFile | undefined;
  readonly diagnostics: readonly Diagnostic[];
}

/** What a step expected, normalised from the string or object form. */
export interface ExpectedDecision {
  readonly effect: Effect;
  /** Present when the test names the rule; `null` expects a plain allow. */
  readonly rule?: string | null;
  readonly reason_contains?: string;
  /** The decision's code (`approval.denied`, `rate_limited`, …), when the test names one. */
  readonly code?: DecisionCode;
  /** The would-be decision of what is in shadow mode, when the test names one. */
  readonly shadow?: ExpectedShadowDecision;
}

/** What a step expected of the decision's `shadow`, normalised from the string or object form. */
export interface ExpectedShadowDecision {
  readonly effect: Effect;
  readonly rule?: string | null;
  readonly reason_contains?: string;
}

/** The part of a decision a test compares and a report shows. */
export interface ActualDecision {
  readonly effect: Effect;
  readonly rule: string | null;
  readonly reason: string;
  readonly retry_after?: number;
  /** The would-be decision of what is in shadow mode, when something was. */
  readonly shadow?: ShadowDecision;
}

/** The first call of a case that did not get the expected decision. */
export interface TestFailure {
  /** Index of the step in the sequence (0 for a single-call case). */
  readonly step: number;
  /** Which repetition of a `repeat` step failed (1-based). */
  readonly repetition: number;
  readonly call: ToolCall;
  /** The decision time, ISO 8601. */
  readonly at: string;
  readonly expected: ExpectedDecision;
  readonly actual: ActualDecision;
  /** What differed, in words: `effect: expected allow, got deny`. */
  readonly mismatches: readonly string[];
}

/** The outcome of one case (a single call or a whole sequence). */
export interface TestCaseResult {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly passed: boolean;
  /** Decisions made, counting every repetition. */
  readonly calls: number;
  readonly failure?: TestFailure;
}

/** The outcome of one test file. */
export interface TestFileResult {
  readonly file: string;
  readonly cases: readonly TestCaseResult[];
  readonly passed: number;
  readonly failed: number;
  /** Coverage items (see {@link coverageItems}) decided by at least one call of this file. */
  readonly hits: ReadonlySet<string>;
}

/** Parses and validates a `*.test.json` file (JSON or YAML), with file:line:col diagnostics. */
export function parseTestFile(text: string, file: string): ParsedTestFile {
  const parsed = parseSourceDocument(text, file);
  if (!parsed.document) return { document: undefined, tests: undefined, diagnostics: parsed.diagnostics };
  const diagnostics = validateDocument(parsed.document, 'test-file');
  return { document: parsed.document, tests: diagnostics.length > 0 ? undefined : (parsed.document.value as PolicyTestFile), diagnostics };
}

function normalise(expect: Expectation): ExpectedDecision {
  if (typeof expect === 'string') return { effect: expect };
  const { shadow, ...enforced } = expect;
  return shadow === undefined ? enforced : { ...enforced, shadow: normaliseShadow(shadow) };
}

function normaliseShadow(expect: ShadowExpectation): ExpectedShadowDecision {
  return typeof expect === 'string' ? { effect: expect } : expect;
}

function toCall(c: TestCall, sessionDefault: { id: string }): ToolCall {
  return {
    tool: c.tool,
    args: (c.args ?? {}) as Record<string, unknown>,
    agent: (c.agent as ToolCall["agent"]) ?? TEST_AGENT,
    session: c.session ?? sessionDefault,
  };
}

function compare(expected: ExpectedDecision, actual: Decision): string[] {
  const out: string[] = [];
  if (actual.effect !== expected.effect) out.push(`effect: expected ${expected.effect}, got ${actual.effect}`);
  if (expected.rule !== undefined && actual.rule !== expected.rule) out.push(`rule: expected ${JSON.stringify(expected.rule)}, got ${JSON.stringify(actual.rule)}`);
  if (expected.reason_contains !== undefined && !actual.reason.includes(expected.reason_contains)) {
    out.push(`reason: expected it to contain ${JSON.stringify(expected.reason_contains)}, got ${JSON.stringify(actual.reason)}`);
  }
  if (expected.code !== undefined && actual.code !== expected.code) out.push(`code: expected ${expected.code}, got ${actual.code ?? 'none'}`);
  const shadow = expected.shadow;
  if (shadow !== undefined) {
    const got = actual.shadow;
    if (got === undefined) {
      out.push(`shadow: expected ${shadow.effect}, got no shadow decision (nothing in shadow mode decided this call)`);
    } else {
      if (got.effect !== shadow.effect) out.push(`shadow effect: expected ${shadow.effect}, got ${got.effect}`);
      if (shadow.rule !== undefined && got.rule !== shadow.rule) out.push(`shadow rule: expected ${JSON.stringify(shadow.rule)}, got ${JSON.stringify(got.rule)}`);
      if (shadow.reason_contains !== undefined && !got.reason.includes(shadow.reason_contains)) {
        out.push(`shadow reason: expected it to contain ${JSON.stringify(shadow.reason_contains)}, got ${JSON.stringify(got.reason)}`);
      }
    }
  }
  return out;
}

/** Options of {@link runTestFile}. */
export interface RunTestFileOptions {
  /** Run only the cases whose name it accepts (`tollgate test --run`); the others are left out of the result and of its hits. */
  readonly only?: (name: string) => boolean;
}

/**
 * Runs every case of a validated test file against a compiled policy. Each case gets its
 * own in-memory limit store and a clock fixed at {@link TEST_EPOCH} (or its `at`), so cases
 * never share state; a sequence's steps share both. Calls without an agent run as
 * {@link TEST_AGENT}, and a case's calls share {@link TEST_SESSION} unless they name one.
 *
 * `at` values must have been validated by the schema; an `at` that is still not a real
 * time (e.g. month 13) fails its case with a message saying so.
 */
export function runTestFile(tests: PolicyTestFile, document: SourceDocument, policy: CompiledPolicy, options: RunTestFileOptions = {}): TestFileResult {
  const hits = new Set<string>();
  const cases: TestCaseResult[] = [];
  let passed = 0;
  tests.cases.forEach((c, index) => {
    if (options.only && !options.only(c.name)) return;
    const pos = document.positionOf(pointerOf('cases', index));
    const steps = c.sequence ?? [
      {
        call: c.call!,
        expect: c.expect!,
        ...(c.at !== undefined ? { at: c.at } : {}),
        ...(c.approved !== undefined ? { approved: c.approved } : {}),
        ...(c.approval !== undefined ? { approval: c.approval } : {}),
      },
    ];
    const limits = new MemoryLimitStore();
    let now = TEST_EPOCH;
    let calls = 0;
    let failure: TestFailure | undefined;
    for (let s = 0; s < steps.length && failure === undefined; s++) {
      const step = steps[s]!;
      if (step.at !== undefined) {
        const t = Date.parse(step.at);
        if (Number.isNaN(t)) {
          failure = {
            step: s,
            repetition: 1,
            call: toCall(step.call, TEST_SESSION),
            at: step.at,
            expected: normalise(step.expect),
            actual: { effect: 'deny', rule: null, reason: 'not decided' },
            mismatches: [`at: ${JSON.stringify(step.at)} is not a valid time`],
          };
          break;
        }
        now = t;
      }
      const call = toCall(step.call, TEST_SESSION);
      const expected = normalise(step.expect);
      // A step's approval stands for each of its calls (each repetition has a grant of its own);
      // a later step without one is held again, as a grant runs exactly one call in the gateway.
      const approval = step.approval ?? (step.approved ? 'granted' : undefined);
      const approvals = (): ApprovalState | undefined => (approval === undefined ? undefined : testApproval(approval));
      const context = { now, limits, approvals };
      const repeat = 'repeat' in step && typeof step.repeat === 'number' ? step.repeat : 1;
      for (let r = 1; r <= repeat; r++) {
        const decision = policy.decide(call, context);
        calls += 1;
        markHit(hits, policy, call.tool, decision);
        const mismatches = compare(expected, decision);
        if (mismatches.length > 0) {
          failure = {
            step: s,
            repetition: r,
            call,
            at: new Date(now).toISOString(),
            expected,
            actual: {
              effect: decision.effect,
              rule: decision.rule,
              reason: decision.reason,
              ...(decision.retry_after !== undefined ? { retry_after: decision.retry_after } : {}),
              ...(decision.shadow !== undefined ? { shadow: decision.shadow } : {}),
            },
            mismatches,
          };
          break;
        }
      }
    }
    if (failure === undefined) passed += 1;
    cases.push({ name: c.name, file: document.file, line: pos.line, column: pos.column, passed: failure === undefined, calls, ...(failure ? { failure } : {}) });
  });
  return { file: document.file, cases, passed, failed: cases.length - passed, hits };
}

/** The coverage item of a tool's allow path. */
export function allowItem(tool: string): string {
  return `tools.${tool}`;
}

function markHit(hits: Set<string>, policy: CompiledPolicy, tool: string, decision: Decision): void {
  const listed = policy.policy.tools !== undefined && Object.hasOwn(policy.policy.tools, tool);
  const shadow = decision.shadow;
  if (shadow === undefined) {
    if (decision.rule !== null) hits.add(decision.rule);
    if (decision.effect === 'allow' && listed) hits.add(allowItem(tool));
    return;
  }
  // Rules in shadow count as hit by what they would have decided. The enforced decision of
  // a policy in shadow is a blanket allow that no rule made; that of a tool rule in shadow
  // came from hide or default, which it names, and never from the tool's allow path.
  if (policy.policy.shadow !== true && decision.rule !== null) hits.add(decision.rule);
  if (shadow.rule !== null) hits.add(shadow.rule);
  if (shadow.effect === 'allow' && listed) hits.add(allowItem(tool));
}

/** One thing a policy's tests should exercise. */
export interface CoverageItem {
  /** A rule id, or `tools.<t>` for a tool's allow path. */
  readonly id: string;
  readonly kind: 'rule' | 'allow';
  /** The tool it belongs to; null for `default`, `hide` and `all_tools` limits. */
  readonly tool: string | null;
  readonly hit: boolean;
}

/** Hit and total counts, and their percentage (100 when there is nothing to cover). */
export interface CoverageCount {
  readonly hit: number;
  readonly total: number;
  readonly percent: number;
}

/** Which rules of a policy its tests decided with, per tool and in total. */
export interface CoverageReport {
  readonly items: readonly CoverageItem[];
  /** Per tool; the key `*` holds the policy-wide items (`default`, `hide`, `all_tools`). */
  readonly tools: Readonly<Record<string, CoverageCount>>;
  readonly total: CoverageCount;
}

/**
 * The coverage items of a policy: every rule (`listRules`), except `default` when `"*"`
 * hides every unlisted tool and `action: allow` (which decides as a plain allow), plus the
 * allow path of every listed tool that can be allowed (by its rule, in shadow or not).
 * A rule counts as hit when it decided a call; a limit when it denied one. A rule in shadow
 * mode counts as hit when it decided a call's would-be decision (`Decision.shadow`).
 */
export function coverageItems(policy: CompiledPolicy): Array<{ id: string; kind: 'rule' | 'allow'; tool: string | null }> {
  const hideAll = (policy.policy.hide ?? []).includes('*');
  const items: Array<{ id: string; kind: 'rule' | 'allow'; tool: string | null }> = [];
  for (const r of policy.rules) {
    if (r.kind === 'default' && hideAll) continue;
    // `action: allow` decides with rule null; the tool's allow path below stands for it.
    if (r.kind === 'action' && r.tool !== null && policy.policy.tools?.[r.tool]?.action === 'allow') continue;
    items.push({ id: r.id, kind: 'rule', tool: r.tool });
  }
  for (const tool of Object.keys(policy.policy.tools ?? {})) {
    if (policy.wouldList(tool)) items.push({ id: allowItem(tool), kind: 'allow', tool });
  }
  return items;
}

function count(hit: number, total: number): CoverageCount {
  return { hit, total, percent: total === 0 ? 100 : Math.floor((hit / total) * 10_000) / 100 };
}

/** Computes a {@link CoverageReport} from the hits of every test file run against one policy. */
export function computeCoverage(policy: CompiledPolicy, hitSets: Iterable<ReadonlySet<string>>): CoverageReport {
  const hits = new Set<string>();
  for (const s of hitSets) for (const h of s) hits.add(h);
  const items = coverageItems(policy).map((i) => ({ ...i, hit: hits.has(i.id) }));
  const perTool = new Map<string, { hit: number; total: number }>();
  for (const i of items) {
    const key = i.tool ?? '*';
    const c = perTool.get(key) ?? { hit: 0, total: 0 };
    c.total += 1;
    if (i.hit) c.hit += 1;
    perTool.set(key, c);
  }
  const tools: Record<string, CoverageCount> = {};
  for (const [k, c] of perTool) tools[k] = count(c.hit, c.total);
  return { items, tools, total: count(items.filter((i) => i.hit).length, items.length) };
}
