import { ArgumentValidator } from '../evaluate/argument-validator.js';
import { canonicalDigest } from '../canonical-json.js';
import { compileCondition, Outcome, type CompiledCondition } from './condition-compiler.js';
import { INPUT_SCHEMA_RULE, type ApprovalLookup, type ApprovalRequirement, type ApprovalState, type Decision, type LimitState, type ShadowDecision, type ToolCall } from '../evaluate/decision.js';
import { PolicyError, type Diagnostic, type DiagnosticCode } from '../diagnostic.js';
import { parseDuration } from '../parse/duration.js';
import type { Condition, Limit, Policy, RateLimit, Scope, ToolRule, Window } from '../generated/policy-types.js';
import { MemoryLimitStore, type LimitRequest, type LimitResult, type LimitStore } from '../evaluate/limit-store.js';
import { parsePath, type PathGetter } from './path-expression.js';
import { listRules, toolRuleId, type RuleInfo } from './policy-rules.js';
import { RegexSupportError } from './regex-compiler.js';
import { validateDocument } from '../parse/schema-validator.js';
import { pointerOf, type SourceDocument } from '../parse/source-document.js';
import type { PolicyRevision } from '../policy-revision.js';

/** Options of {@link compilePolicy}. */
export interface CompileOptions {
  /** The upstream server this policy governs; it namespaces limit counters. */
  readonly server?: string;
  /** The bundle revision the policy came from; null (default) for a policy read from a directory. */
  readonly revision?: PolicyRevision;
  /** Where limit counters live when a decide context names none (default: a new in-memory store). */
  readonly limits?: LimitStore;
  /** Current time in epoch milliseconds (default `Date.now`). */
  readonly clock?: () => number;
  /** Longest string a `regex` condition is run on (default 8192); longer values deny the call. */
  readonly maxPatternInput?: number;
  /** The document the policy was parsed from, so diagnostics point at file:line:col. */
  readonly source?: SourceDocument;
  /** Skip schema validation: the caller has just validated the same value. */
  readonly validated?: boolean;
  /**
   * The policy's digest (hex SHA-256 of its canonical JSON) when the caller already knows it,
   * e.g. from a verified bundle's manifest: it is not computed again. It must be that digest.
   */
  readonly digest?: string;
  /**
   * The caller hands the value over (e.g. just received from another thread) and keeps no
   * reference to it: it is frozen in place instead of copied first.
   */
  readonly adopt?: boolean;
  /**
   * The input schema of each tool (e.g. from the server's `catalog.json`): `decide` then
   * checks a call's arguments against its tool's schema (step 2, before any rule), as the
   * gateway does with the schemas the upstream advertises. A tool without one is not checked.
   */
  readonly inputSchemas?: ReadonlyMap<string, object>;
  /** Compiles and caches the input schemas (default: one per compiled policy); share one between policies. */
  readonly validator?: ArgumentValidator;
}

/** Per-call inputs of {@link CompiledPolicy.decide} that override the compile options. */
export interface DecideContext {
  /** The decision time (epoch ms); default: the policy's clock. */
  readonly now?: number;
  /** The limit store for this call; default: the policy's store. */
  readonly limits?: LimitStore;
  /** Finds a granted approval for the call (DESIGN §5, step 6). */
  readonly approvals?: ApprovalLookup;
  /**
   * The tool's input schema as the upstream advertises it now (the gateway passes it on every
   * call); it takes the place of the compile-time `inputSchemas` entry.
   */
  readonly inputSchema?: object;
}

/**
 * A compiled, frozen policy. `decide` runs DESIGN §2's evaluation order — hidden, then the
 * arguments against the tool's input schema (when one is known), then the rules, then the
 * limits: a Map lookup and a few precompiled comparisons; decisions that do not depend on the
 * call are shared.
 */
export interface CompiledPolicy {
  readonly server: string;
  readonly revision: PolicyRevision;
  /** Hex SHA-256 of the policy's canonical JSON (RFC 8785). */
  readonly digest: string;
  /** The policy as written (deep-frozen). */
  readonly policy: Policy;
  /** Every rule, in evaluation order (see {@link listRules}). */
  readonly rules: readonly RuleInfo[];
  /**
   * Decides one call with a synchronous limit store.
   * @throws PolicyError `limits.async` when the store answers with a promise: use {@link decideAsync}.
   */
  decide(call: ToolCall, context?: DecideContext): Decision;
  /** Decides one call; works with synchronous and asynchronous (PostgreSQL) limit stores. */
  decideAsync(call: ToolCall, context?: DecideContext): Promise<Decision>;
  /**
   * Steps 1–6 of `decide`, leaving step 7 (the limits) to the caller: the decision, or a
   * {@link PendingDecision} whose counters the caller acquires (all-or-nothing per group, as
   * `LimitStore.acquire` does) and then finishes — so that a store can count the limits and
   * record the decision they lead to in one transaction. `context.limits` is not used.
   *
   * @example
   * const step = policy.prepare(call)
   * const decision = isPendingDecision(step) ? step.finish(step.limits.map((g) => store.acquire(g, step.now))) : step
   */
  prepare(call: ToolCall, context?: DecideContext): Decision | PendingDecision;
  /**
   * Whether `tools/list` shows the tool: false when it is hidden or every call to it is
   * denied no matter the arguments (`action: deny`, default deny, a deny_if rule with no conditions).
   * It follows the enforced decision: a policy in shadow mode lists every tool, and a tool
   * whose rule is in shadow is listed as if it were not in `tools`.
   */
  isListed(tool: string): boolean;
  /**
   * Whether calls to `tool` are answered as an unknown tool (DESIGN §2, step 1): listed in
   * `hide`, hidden by `action: "hide"`, or not listed while `hide` holds `"*"`. It follows the
   * enforced decision: a policy in shadow mode hides nothing, and a tool whose rule is in
   * shadow is treated as if it were not listed. The gateway asks before validating arguments,
   * so invalid arguments cannot reveal a hidden tool.
   */
  hides(tool: string): boolean;
  /**
   * What {@link isListed} would say with shadow mode off: whether the policy's own rules
   * (in shadow or not) can let a call to the tool through. Equals `isListed` for a policy
   * with nothing in shadow.
   */
  wouldList(tool: string): boolean;
}

/**
 * A decision that waits only for its limit counters (see {@link CompiledPolicy.prepare}).
 * Immutable; `finish` may be called once per acquisition and allocates only the decision.
 */
export interface PendingDecision {
  /** The counters to acquire, in groups: each group all-or-nothing (one `LimitStore.acquire`), in order. */
  readonly limits: readonly (readonly LimitRequest[])[];
  /** The decision time (epoch ms) the counters' windows belong to. */
  readonly now: number;
  /** The decision, given each group's result (same order as {@link limits}). */
  finish(results: readonly LimitResult[]): Decision;
}

/** Tells a {@link PendingDecision} from a finished {@link Decision}. */
export function isPendingDecision(step: Decision | PendingDecision): step is PendingDecision {
  return step instanceof PendingStep;
}

/** The most argument problems a decision lists (the reason names the first few). */
const MAX_ARGUMENT_ERRORS = 20;
const WINDOWS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86_400 };
const WINDOW_WORDS: Record<number, string> = { 1: 'second', 60: 'minute', 3600: 'hour', 86_400: 'day' };

interface CompiledLimit {
  readonly rule: string;
  readonly counter: string;
  readonly scope: Scope;
  readonly windowSec: number;
  readonly windowMs: number;
  readonly max: number;
  /** The counter key's prefix; limits in shadow mode have their own (`shadow` first), never shared with enforced ones. */
  readonly keyPrefix: string;
  readonly incrementFrom: PathGetter | null;
  readonly incrementPath: string | null;
  readonly onDeny: string | undefined;
  /** The fail-closed denial for a call without a usable `increment_from` value. */
  readonly missingAmount: Decision | null;
}

interface CompiledGate {
  readonly conditions: readonly CompiledCondition[];
  /** The decision when the gate decides (deny for require/deny_if, approval for approve_if). */
  readonly decision: Decision;
  /** The denial when a value was too long to match a pattern. */
  readonly tooLong: readonly Decision[];
}

interface CompiledRequire {
  readonly condition: CompiledCondition;
  readonly deny: Decision;
  readonly tooLong: Decision;
}

interface CompiledTool {
  readonly name: string;
  readonly hidden: Decision | null;
  readonly actionDeny: Decision | null;
  readonly skipChecks: boolean;
  readonly actionApprove: Decision | null;
  readonly require: readonly CompiledRequire[];
  readonly denyIf: readonly CompiledGate[];
  readonly approveIf: readonly CompiledGate[];
  readonly limits: readonly CompiledLimit[];
  readonly allow: Decision;
  readonly alwaysDenied: boolean;
  /** The tool's rule is in shadow mode (and the policy is not): its decision is only recorded. */
  readonly shadow: boolean;
}

/**
 * Compiles a parsed policy into a {@link CompiledPolicy}. Validates it against the schema
 * first (unless `validated`), then compiles regexes once and indexes rules by tool.
 *
 * @throws PolicyError `policy.invalid` with every diagnostic when the policy is not valid.
 * @example
 * const policy = compilePolicy(JSON.parse(text), { server: 'ccxt' });
 * policy.decide({ tool: 'cancel_order', args: { exchange_id: 'binance', id: '42' } }).effect // 'deny'
 */
export function compilePolicy(policy: unknown, options: CompileOptions = {}): CompiledPolicy {
  const result = tryCompilePolicy(policy, options);
  if (!result.policy) {
    const first = result.diagnostics.find((d) => d.severity === 'error');
    throw new PolicyError('policy.invalid', `invalid policy: ${first ? `${first.file}:${first.line}:${first.column}: ${first.message}` : 'unknown error'}`, {
      diagnostics: result.diagnostics,
    });
  }
  return result.policy;
}

/** Like {@link compilePolicy}, but returns the diagnostics instead of throwing. */
export function tryCompilePolicy(value: unknown, options: CompileOptions = {}): { policy: CompiledPolicy | undefined; diagnostics: Diagnostic[] } {
  const source: SourceDocument = options.source ?? detachedDocument(value, `${options.server ?? 'policy'}`);
  if (!options.validated) {
    const schemaDiagnostics = validateDocument(source, 'policy');
    if (schemaDiagnostics.length > 0) return { policy: undefined, diagnostics: schemaDiagnostics };
  }
  const compiler = new Compiler(value as Policy, source, options);
  const compiled = compiler.compile();
  return { policy: compiler.diagnostics.length > 0 ? undefined : compiled, diagnostics: compiler.diagnostics };
}

function detachedDocument(value: unknown, file: string): SourceDocument {
  return { file, format: 'json', text: '', value, positionOf: () => ({ line: 1, column: 1 }) };
}

/** Who may approve a rule's calls, how many of them, and for how long (null: the gateway's default). */
function approvalRequirement(rule: { approvers?: readonly string[]; timeout?: string; min_approvals?: number }): ApprovalRequirement {
  return Object.freeze({
    approvers: rule.approvers ? Object.freeze([...rule.approvers]) : null,
    timeout_ms: rule.timeout ? parseDuration(rule.timeout) : null,
    min_approvals: rule.min_approvals ?? 1,
  });
}

/** Window length in seconds of a named or numeric window. */
export function windowSeconds(window: Window): number {
  return typeof window === 'number' ? window : WINDOWS[window]!;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

class Compiler {
  readonly diagnostics: Diagnostic[] = [];
  readonly #policy: Policy;
  readonly #source: SourceDocument;
  readonly #options: CompileOptions;
  readonly #server: string;
  readonly #revision: PolicyRevision;
  readonly #digest: string;
  readonly #maxPatternInput: number;

  constructor(policy: Policy, source: SourceDocument, options: CompileOptions) {
    // The compiled policy keeps its own frozen copy, so later edits by the caller change nothing.
    this.#policy = deepFreeze(options.adopt ? policy : structuredClone(policy));
    this.#source = source;
    this.#options = options;
    this.#server = options.server ?? '';
    this.#revision = options.revision ?? null;
    this.#digest = options.digest ?? canonicalDigest(policy);
    this.#maxPatternInput = options.maxPatternInput ?? 8192;
  }

  #report(code: DiagnosticCode, pointer: string, message: string, hint?: string, at: 'key' | 'value' = 'value'): void {
    const pos = this.#source.positionOf(pointer, at);
    this.diagnostics.push({ code, severity: 'error', file: this.#source.file, line: pos.line, column: pos.column, message, pointer, ...(hint ? { hint } : {}) });
  }

  #decision(fields: Omit<Decision, 'revision' | 'digest'>): Decision {
    return Object.freeze({ ...fields, revision: this.#revision, digest: this.#digest });
  }

  compile(): CompiledPolicy {
    const policy = this.#policy;
    const rules = listRules(policy);
    this.#checkIds(rules);
    const shadowAll = policy.shadow === true;
    const allLimits = (policy.all_tools?.limits ?? []).map((l, i) => this.#limit(l, l.id ?? `all_tools.limits[${i}]`, pointerOf('all_tools', 'limits', i), shadowAll));
    const tools = new Map<string, CompiledTool>();
    const hideSet = new Set(policy.hide ?? []);
    const hideAll = hideSet.has('*');
    const hiddenByList = this.#decision({ effect: 'hidden', rule: 'hide', reason: 'the tool is hidden by policy', code: 'tool.hidden' });
    for (const [name, rule] of Object.entries(policy.tools ?? {})) {
      if (rule) tools.set(name, this.#tool(name, rule, hideSet.has(name) ? hiddenByList : null, allLimits, shadowAll));
    }
    const defaultDecision =
      policy.default === 'deny'
        ? this.#decision({ effect: 'deny', rule: 'default', reason: 'not allowed by policy (default deny)', code: 'policy.denied' })
        : this.#decision({ effect: 'allow', rule: 'default', reason: 'allowed by policy (default allow)', code: null });
    if (this.diagnostics.length > 0) return undefined as unknown as CompiledPolicy;
    const evaluator = new Evaluator({
      server: this.#server,
      revision: this.#revision,
      digest: this.#digest,
      policy,
      rules,
      tools,
      hideSet,
      hideAll,
      hiddenByList,
      defaultDecision,
      defaultLimits: allLimits,
      limits: this.#options.limits ?? new MemoryLimitStore(),
      clock: this.#options.clock ?? Date.now,
      inputSchemas: this.#options.inputSchemas,
      validator: this.#options.validator ?? new ArgumentValidator(),
    });
    if (!shadowAll) return evaluator;
    const enforced = this.#decision({ effect: 'allow', rule: null, reason: 'allowed: the policy is in shadow mode and enforces nothing', code: null });
    return new ShadowPolicy(evaluator, enforced);
  }

  #checkIds(rules: readonly RuleInfo[]): void {
    const positional = new Set(rules.map((r) => r.positionalId));
    const seen = new Map<string, RuleInfo>();
    for (const r of rules) {
      if (r.id !== r.positionalId && positional.has(r.id)) {
        this.#report('TG107', `${r.pointer}/id`, `rule id "${r.id}" is the positional id of another rule`, 'choose an id that is not of the form tools.<tool>.<part>');
        continue;
      }
      const other = seen.get(r.id);
      if (other) this.#report('TG103', `${r.pointer}/id`, `rule id "${r.id}" is already used by ${other.positionalId}`, 'give each rule its own id');
      else seen.set(r.id, r);
    }
  }

  #condition(c: Condition, pointer: string): CompiledCondition | undefined {
    try {
      return compileCondition(c, { maxPatternInput: this.#maxPatternInput });
    } catch (error) {
      if (error instanceof RegexSupportError) this.#report('TG100', `${pointer}/value`, `regex ${JSON.stringify(c.value)} cannot be used: ${error.message}`, error.hint);
      else this.#report('TG100', `${pointer}/value`, `invalid regex ${JSON.stringify(c.value)}: ${(error as Error).message}`, 'write an ECMAScript regular expression; escape "\\" as "\\\\" in JSON');
      return undefined;
    }
  }

  #conditions(conditions: readonly Condition[], pointer: string): CompiledCondition[] {
    return conditions.flatMap((c, i) => this.#condition(c, `${pointer}/${i}`) ?? []);
  }

  #tooLong(rule: string, condition: CompiledCondition): Decision {
    return this.#decision({
      effect: 'deny',
      rule,
      reason: `${condition.path} is longer than ${this.#maxPatternInput} characters, too long to match against a pattern (fail closed)`,
      code: 'policy.denied',
    });
  }

  #tool(name: string, rule: ToolRule, hiddenByList: Decision | null, allLimits: readonly CompiledLimit[], shadowAll: boolean): CompiledTool {
    // In a policy in shadow every limit is already a shadow one; a tool rule's own flag adds nothing.
    const shadow = !shadowAll && rule.shadow === true;
    const actionId = toolRuleId(name, 'action');
    const hidden = hiddenByList ?? (rule.action === 'hide' ? this.#decision({ effect: 'hidden', rule: actionId, reason: 'the tool is hidden by policy', code: 'tool.hidden' }) : null);
    const actionDeny =
      rule.action === 'deny'
        ? this.#decision({ effect: 'deny', rule: actionId, reason: rule.reason ?? `the tool "${name}" is denied by policy`, code: 'policy.denied' })
        : null;
    const actionApprove =
      rule.action === 'approve'
        ? this.#decision({
            effect: 'approval_required',
            rule: actionId,
            reason: rule.reason ?? `every call to "${name}" needs a human approval`,
            code: 'approval.required',
            approval: approvalRequirement(rule),
          })
        : null;
    const require = (rule.require ?? []).flatMap((c, i): CompiledRequire[] => {
      const id = toolRuleId(name, `require[${i}]`);
      const condition = this.#condition(c, pointerOf('tools', name, 'require', i));
      if (!condition) return [];
      return [{
        condition,
        deny: this.#decision({ effect: 'deny', rule: id, reason: c.on_deny ?? `the call must satisfy ${condition.text}`, code: 'policy.denied' }),
        tooLong: this.#tooLong(id, condition),
      }];
    });
    const denyIf = (rule.deny_if ?? []).map((r, i): CompiledGate => {
      const id = r.id ?? toolRuleId(name, `deny_if[${i}]`);
      const conditions = this.#conditions(r.conditions, pointerOf('tools', name, 'deny_if', i, 'conditions'));
      return {
        conditions,
        decision: this.#decision({ effect: 'deny', rule: id, reason: r.on_deny ?? `denied by rule ${id}`, code: 'policy.denied' }),
        tooLong: conditions.map((c) => this.#tooLong(id, c)),
      };
    });
    const approveIf = (rule.approve_if ?? []).map((r, i): CompiledGate => {
      const id = r.id ?? toolRuleId(name, `approve_if[${i}]`);
      const conditions = this.#conditions(r.conditions, pointerOf('tools', name, 'approve_if', i, 'conditions'));
      const approval = approvalRequirement(r);
      return {
        conditions,
        decision: this.#decision({ effect: 'approval_required', rule: id, reason: r.reason ?? `needs a human approval (rule ${id})`, code: 'approval.required', approval }),
        tooLong: conditions.map((c) => this.#tooLong(id, c)),
      };
    });
    const inShadow = shadowAll || shadow;
    const own = (rule.limits ?? []).map((l, i) => this.#limit(l, l.id ?? toolRuleId(name, `limits[${i}]`), pointerOf('tools', name, 'limits', i), inShadow));
    if (rule.rate_limit) own.push(this.#rateLimit(name, rule.rate_limit, inShadow));
    return {
      name,
      hidden,
      actionDeny,
      skipChecks: rule.action === 'allow',
      actionApprove,
      require,
      denyIf,
      approveIf,
      // A rule in shadow counts the all_tools limits too, in shadow counters of its own.
      limits: [...(shadow ? allLimits.map(shadowLimit) : allLimits), ...own],
      allow: this.#decision({ effect: 'allow', rule: null, reason: 'allowed by policy', code: null }),
      alwaysDenied: hidden !== null || actionDeny !== null || (rule.action !== 'allow' && denyIf.some((g) => g.conditions.length === 0)),
      shadow,
    };
  }

  #rateLimit(tool: string, r: RateLimit, shadow: boolean): CompiledLimit {
    const id = toolRuleId(tool, 'rate_limit');
    return this.#limit({ counter: r.counter ?? `${tool}.rate_limit`, max: r.max, window: r.window, scope: r.scope ?? 'agent' }, id, pointerOf('tools', tool, 'rate_limit'), shadow);
  }

  #limit(limit: Limit, rule: string, pointer: string, shadow: boolean): CompiledLimit {
    const windowSec = windowSeconds(limit.window);
    if (!(limit.max > 0)) this.#report('TG102', `${pointer}/max`, `limit max must be greater than 0 (got ${limit.max})`, 'a limit of 0 denies every call: use action "deny" instead');
    if (!(windowSec > 0)) this.#report('TG102', `${pointer}/window`, `limit window must be a positive number of seconds (got ${limit.window})`);
    const scope = limit.scope ?? 'agent';
    let incrementFrom: PathGetter | null = null;
    if (limit.increment_from !== undefined) incrementFrom = parsePath(limit.increment_from).get;
    const missingAmount = incrementFrom
      ? this.#decision({
          effect: 'deny',
          rule,
          reason: `spend limit "${limit.counter}" needs a non-negative number at ${limit.increment_from}; the call has none (fail closed)`,
          code: 'policy.denied',
        })
      : null;
    return {
      rule,
      counter: limit.counter,
      scope,
      windowSec,
      windowMs: windowSec * 1000,
      max: limit.max,
      // NUL cannot appear in a counter name from JSON text that matters here, and it keeps
      // "a" + "b:c" and "a:b" + "c" from colliding.
      keyPrefix: `${shadow ? SHADOW_KEY_PREFIX : ''}${this.#server}\u0000${limit.counter}\u0000${scope}\u0000${windowSec}\u0000`,
      incrementFrom,
      incrementPath: limit.increment_from ?? null,
      onDeny: limit.on_deny,
      missingAmount,
    };
  }
}

/**
 * Starts the counter key of every limit in shadow mode. An enforced key starts with the
 * name of the server (non-empty wherever the gateway serves a policy), never with NUL, so
 * shadow and enforced limits never share a counter.
 */
const SHADOW_KEY_PREFIX = '\u0000shadow\u0000';

function shadowLimit(l: CompiledLimit): CompiledLimit {
  return { ...l, keyPrefix: SHADOW_KEY_PREFIX + l.keyPrefix };
}

interface EvaluatorParts {
  server: string;
  revision: PolicyRevision;
  digest: string;
  policy: Policy;
  rules: readonly RuleInfo[];
  tools: Map<string, CompiledTool>;
  hideSet: Set<string>;
  hideAll: boolean;
  hiddenByList: Decision;
  defaultDecision: Decision;
  defaultLimits: readonly CompiledLimit[];
  limits: LimitStore;
  clock: () => number;
  inputSchemas: ReadonlyMap<string, object> | undefined;
  validator: ArgumentValidator;
}

/** What steps 1–6 leave for `decide` to finish: a limits step, or a call with a rule in shadow. */
abstract class PendingStep {}

/** The limits step (7) that remains after steps 1–6 admitted a call. */
class PendingLimits extends PendingStep {
  constructor(
    readonly compiled: readonly CompiledLimit[],
    readonly requests: LimitRequest[],
    readonly now: number,
    readonly allow: Decision,
    readonly approvalId: string | undefined,
  ) {
    super();
  }
}

/** A call to a tool whose rule is in shadow: the enforced steps 1–2 and the rule's would-be decision. */
class ShadowStep extends PendingStep {
  constructor(
    readonly enforced: Decision | PendingLimits,
    readonly shadow: Decision | PendingLimits,
  ) {
    super();
  }
}

/** A {@link PendingDecision} over one limits step: one counter group. */
class PendingLimitsDecision extends PendingStep implements PendingDecision {
  readonly limits: readonly (readonly LimitRequest[])[];
  readonly now: number;

  constructor(
    readonly step: PendingLimits,
    readonly done: (step: PendingLimits, result: LimitResult) => Decision,
    readonly wrap: ((d: Decision) => Decision) | undefined,
  ) {
    super();
    this.limits = [step.requests];
    this.now = step.now;
  }

  finish(results: readonly LimitResult[]): Decision {
    const d = this.done(this.step, results[0]!);
    return this.wrap ? this.wrap(d) : d;
  }
}

/** A {@link PendingDecision} of a call with a rule in shadow: the enforced and the shadow steps' groups, in that order. */
class PendingShadowDecision extends PendingStep implements PendingDecision {
  readonly limits: readonly (readonly LimitRequest[])[];
  readonly now: number;

  constructor(
    readonly step: ShadowStep,
    readonly done: (step: PendingLimits, result: LimitResult) => Decision,
    readonly wrap: ((d: Decision) => Decision) | undefined,
  ) {
    super();
    const groups: LimitRequest[][] = [];
    let now = 0;
    for (const part of [step.enforced, step.shadow]) {
      if (part instanceof PendingLimits) {
        groups.push(part.requests);
        now = part.now;
      }
    }
    this.limits = groups;
    this.now = now;
  }

  finish(results: readonly LimitResult[]): Decision {
    const { enforced, shadow } = this.step;
    let next = 0;
    const e = enforced instanceof PendingLimits ? this.done(enforced, results[next++]!) : enforced;
    const s = shadow instanceof PendingLimits ? this.done(shadow, results[next++]!) : shadow;
    const d = withShadow(e, s);
    return this.wrap ? this.wrap(d) : d;
  }
}

class Evaluator implements CompiledPolicy {
  readonly server: string;
  readonly revision: PolicyRevision;
  readonly digest: string;
  readonly policy: Policy;
  readonly rules: readonly RuleInfo[];
  readonly #p: EvaluatorParts;

  constructor(parts: EvaluatorParts) {
    this.server = parts.server;
    this.revision = parts.revision;
    this.digest = parts.digest;
    this.policy = parts.policy;
    this.rules = Object.freeze([...parts.rules]);
    this.#p = parts;
    INTERNALS.set(this, { parts, checkArguments: (call, context) => this.checkArguments(call, context), shadowAllow: null });
    Object.freeze(this);
  }

  isListed(tool: string): boolean {
    return this.#listed(tool, true);
  }

  hides(tool: string): boolean {
    const p = this.#p;
    if (p.hideSet.has(tool)) return true;
    const t = p.tools.get(tool);
    if (t === undefined || t.shadow) return p.hideAll;
    return t.hidden !== null;
  }

  wouldList(tool: string): boolean {
    return this.#listed(tool, false);
  }

  /** Whether the tool is listed; `enforced`: as enforced now (a tool rule in shadow counts as unlisted), else by the policy's own rules. */
  #listed(tool: string, enforced: boolean): boolean {
    const p = this.#p;
    if (p.hideSet.has(tool)) return false;
    const t = p.tools.get(tool);
    if (!t || (enforced && t.shadow)) return !p.hideAll && p.policy.default === 'allow';
    return !t.alwaysDenied;
  }

  decide(call: ToolCall, context?: DecideContext): Decision {
    const step = this.#evaluate(call, context);
    // One check on the hot path: most calls end in a shared decision.
    if (!(step instanceof PendingStep)) return step;
    if (step instanceof PendingLimits) return this.#acquireSync(step, context);
    const { enforced, shadow } = step as ShadowStep;
    return withShadow(
      enforced instanceof PendingLimits ? this.#acquireSync(enforced, context) : enforced,
      shadow instanceof PendingLimits ? this.#acquireSync(shadow, context) : shadow,
    );
  }

  async decideAsync(call: ToolCall, context?: DecideContext): Promise<Decision> {
    const step = this.#evaluate(call, context);
    if (!(step instanceof PendingStep)) return step;
    if (step instanceof PendingLimits) return this.#acquireAsync(step, context);
    const { enforced, shadow } = step as ShadowStep;
    return withShadow(
      enforced instanceof PendingLimits ? await this.#acquireAsync(enforced, context) : enforced,
      shadow instanceof PendingLimits ? await this.#acquireAsync(shadow, context) : shadow,
    );
  }

  prepare(call: ToolCall, context?: DecideContext): Decision | PendingDecision {
    return this.prepareWith(call, context, undefined);
  }

  /** {@link prepare}, with each finished decision passed through `wrap` (a shadow policy's). */
  prepareWith(call: ToolCall, context: DecideContext | undefined, wrap: ((d: Decision) => Decision) | undefined): Decision | PendingDecision {
    const step = this.#evaluate(call, context);
    if (!(step instanceof PendingStep)) return wrap ? wrap(step) : step;
    const done = (s: PendingLimits, r: LimitResult): Decision => this.#finish(s, r);
    if (step instanceof PendingLimits) return new PendingLimitsDecision(step, done, wrap);
    const shadow = step as ShadowStep;
    if (!(shadow.enforced instanceof PendingLimits) && !(shadow.shadow instanceof PendingLimits)) {
      const d = withShadow(shadow.enforced, shadow.shadow);
      return wrap ? wrap(d) : d;
    }
    return new PendingShadowDecision(shadow, done, wrap);
  }

  #acquireSync(step: PendingLimits, context: DecideContext | undefined): Decision {
    const result = (context?.limits ?? this.#p.limits).acquire(step.requests, step.now);
    if (result instanceof Promise) {
      throw new PolicyError('limits.async', 'this limit store is asynchronous: call decideAsync instead of decide');
    }
    return this.#finish(step, result);
  }

  async #acquireAsync(step: PendingLimits, context: DecideContext | undefined): Promise<Decision> {
    return this.#finish(step, await (context?.limits ?? this.#p.limits).acquire(step.requests, step.now));
  }

  /**
   * Step 2: the call's arguments against its tool's input schema, and no non-finite number
   * anywhere in them. Null when they pass or no schema is known for the tool. Enforced
   * whatever is in shadow mode: it is not a rule of the policy but the shape of the call.
   */
  checkArguments(call: ToolCall, context: DecideContext | undefined): Decision | null {
    const p = this.#p;
    const schema = context?.inputSchema ?? p.inputSchemas?.get(call.tool);
    if (schema === undefined) return null;
    const check = p.validator.validate(schema, call.args);
    if (check.valid) return null;
    return Object.freeze({
      effect: 'deny',
      rule: INPUT_SCHEMA_RULE,
      reason: `invalid arguments for ${call.tool}: ${check.message}`,
      code: 'invalid_arguments',
      revision: this.revision,
      digest: this.digest,
      errors: Object.freeze(check.errors.slice(0, MAX_ARGUMENT_ERRORS)),
      ...(check.nonFinite ? { non_finite: Object.freeze([...check.nonFinite]) } : {}),
    });
  }

  /** Steps 1–6 of DESIGN §2, and the preparation of step 7. */
  #evaluate(call: ToolCall, context: DecideContext | undefined): Decision | PendingLimits | ShadowStep {
    const p = this.#p;
    const tool = call.tool;
    // 1. Hidden, before the arguments are looked at: invalid arguments must not reveal a hidden tool.
    if (p.hideSet.has(tool)) return p.hiddenByList;
    const t = p.tools.get(tool);
    // (A tool whose rule is in shadow is enforced as if it were not listed.)
    const hidden = t === undefined || t.shadow ? p.hideAll : t.hidden !== null;
    if (!hidden) {
      // 2. The arguments.
      const invalid = this.checkArguments(call, context);
      if (invalid !== null) return invalid;
    }
    if (t === undefined) return this.#unlisted(call, context);
    if (t.shadow) {
      // Enforced: steps 1–2 as if the tool were not in `tools`. Recorded: the tool's rule,
      // whose approvals are never looked up (a shadow rule asks no one).
      return new ShadowStep(this.#unlisted(call, context), this.#evaluateTool(t, call, context, undefined));
    }
    return this.#evaluateTool(t, call, context, context?.approvals);
  }

  /** Steps 1–2 for a tool that is not in `tools` (or whose rule is in shadow). */
  #unlisted(call: ToolCall, context: DecideContext | undefined): Decision | PendingLimits {
    const p = this.#p;
    if (p.hideAll) return p.hiddenByList;
    // 2. Not listed: the default. An allowed call still counts against all_tools limits.
    if (p.defaultDecision.effect === 'deny' || p.defaultLimits.length === 0) return p.defaultDecision;
    return this.#prepareLimits(call, context, p.defaultLimits, p.defaultDecision, undefined);
  }

  /** Steps 3–7 for a listed tool that is not hidden by the hide list. */
  #evaluateTool(t: CompiledTool, call: ToolCall, context: DecideContext | undefined, approvals: ApprovalLookup | undefined): Decision | PendingLimits {
    if (t.hidden !== null) return t.hidden;
    // 3. Unconditional action.
    if (t.actionDeny !== null) return t.actionDeny;
    let approvalId: string | undefined;
    let allow = t.allow;
    if (!t.skipChecks) {
      // 4. require: the first condition that fails denies.
      for (let i = 0; i < t.require.length; i++) {
        const r = t.require[i]!;
        const o = r.condition.test(call);
        if (o !== Outcome.True) return o === Outcome.TooLong ? r.tooLong : r.deny;
      }
      // 5. deny_if: the first rule whose conditions all hold denies.
      for (let i = 0; i < t.denyIf.length; i++) {
        const g = t.denyIf[i]!;
        const o = matchAll(g, call);
        if (o === MATCH) return g.decision;
        if (o !== NO_MATCH) return o;
      }
      // 6. Approval, unless one was granted for exactly this call.
      let approval: Decision | null = t.actionApprove;
      if (approval === null) {
        for (let i = 0; i < t.approveIf.length; i++) {
          const g = t.approveIf[i]!;
          const o = matchAll(g, call);
          if (o === MATCH) {
            approval = g.decision;
            break;
          }
          if (o !== NO_MATCH) return o;
        }
      }
      if (approval !== null) {
        const state = approvals?.(call, approval.rule!);
        if (state === undefined) return approval;
        if (state.status !== 'granted') return this.#approvalRefused(approval, state);
        approvalId = state.id;
        allow = this.#approvedAllow(approval.rule!, approvalId);
      }
    }
    // 7. Limits.
    if (t.limits.length === 0) return allow;
    return this.#prepareLimits(call, context, t.limits, allow, approvalId);
  }

  /** The call's approval request was denied, or expired before it was granted: the call is denied by the rule that asked. */
  #approvalRefused(approval: Decision, state: Exclude<ApprovalState, { status: 'granted' }>): Decision {
    const reason =
      state.status === 'denied'
        ? `approval ${state.id} was denied${state.approver ? ` by ${state.approver}` : ''}${state.reason ? `: ${state.reason}` : ''}`
        : `approval ${state.id} expired before it was granted; make the call again to ask anew`;
    return Object.freeze({
      effect: 'deny',
      rule: approval.rule,
      reason,
      code: state.status === 'denied' ? 'approval.denied' : 'approval.expired',
      revision: this.revision,
      digest: this.digest,
      approval_id: state.id,
    });
  }

  #approvedAllow(rule: string, approvalId: string): Decision {
    return Object.freeze({ effect: 'allow', rule, reason: `allowed by approval ${approvalId}`, code: null, revision: this.revision, digest: this.digest, approval_id: approvalId });
  }

  #prepareLimits(call: ToolCall, context: DecideContext | undefined, limits: readonly CompiledLimit[], allow: Decision, approvalId: string | undefined): Decision | PendingLimits {
    const now = context?.now ?? this.#p.clock();
    const requests: LimitRequest[] = new Array(limits.length);
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      let amount = 1;
      if (l.incrementFrom !== null) {
        const v = l.incrementFrom(call);
        // Spend caps fail closed: no number, a negative one (which would refund the counter) or a non-finite one denies.
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return l.missingAmount!;
        amount = v;
      }
      const windowStart = Math.floor(now / l.windowMs) * l.windowMs;
      const scopeId = l.scope === 'agent' ? (call.agent?.id ?? '') : l.scope === 'session' ? (call.session?.id ?? '') : '';
      requests[i] = { key: l.keyPrefix + scopeId, amount, max: l.max, windowStart, windowEnd: windowStart + l.windowMs };
    }
    return new PendingLimits(limits, requests, now, allow, approvalId);
  }

  #finish(step: PendingLimits, result: LimitResult): Decision {
    const { compiled: limits, requests, now } = step;
    const states: LimitState[] = new Array(limits.length);
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      const r = requests[i]!;
      states[i] = { rule: l.rule, counter: l.counter, scope: l.scope, window: l.windowSec, max: l.max, used: result.used[i] ?? 0, amount: r.amount, resets_at: r.windowEnd };
    }
    if (result.exceeded < 0) {
      const a = step.allow;
      return { effect: 'allow', rule: a.rule, reason: a.reason, code: null, revision: this.revision, digest: this.digest, limits: states, ...(step.approvalId !== undefined ? { approval_id: step.approvalId } : {}) };
    }
    const l = limits[result.exceeded]!;
    const r = requests[result.exceeded]!;
    const retryAfter = Math.max(1, Math.ceil((r.windowEnd - now) / 1000));
    const per = `per ${WINDOW_WORDS[l.windowSec] ?? `${l.windowSec}s`}${l.scope === 'global' ? '' : ` per ${l.scope}`}`;
    const reason =
      l.onDeny ??
      (l.incrementFrom === null
        ? `rate limit exceeded: "${l.counter}" allows ${l.max} calls ${per}; retry after ${retryAfter}s`
        : `spend limit exceeded: "${l.counter}" would reach ${round(states[result.exceeded]!.used + r.amount)} of ${l.max} ${per}; retry after ${retryAfter}s`);
    return { effect: 'deny', rule: l.rule, reason, code: 'rate_limited', revision: this.revision, digest: this.digest, retry_after: retryAfter, limits: states };
  }
}

/** The enforced decision with the would-be decision of what is in shadow. */
function withShadow(enforced: Decision, shadow: Decision): Decision {
  return { ...enforced, shadow: shadowOf(shadow) };
}

function shadowOf(d: Decision): ShadowDecision {
  return { effect: d.effect, rule: d.rule, reason: d.reason, code: d.code };
}

/**
 * A policy in shadow mode (`"shadow": true` at the top level): its rules decide every call
 * for the record only (`Decision.shadow`); the enforced decision is always allow, every tool
 * is listed, approvals are never looked up, and its limits count in shadow counters.
 */
class ShadowPolicy implements CompiledPolicy {
  readonly server: string;
  readonly revision: PolicyRevision;
  readonly digest: string;
  readonly policy: Policy;
  readonly rules: readonly RuleInfo[];
  readonly #rules: Evaluator;
  readonly #allow: Decision;

  constructor(rules: Evaluator, allow: Decision) {
    this.server = rules.server;
    this.revision = rules.revision;
    this.digest = rules.digest;
    this.policy = rules.policy;
    this.rules = rules.rules;
    this.#rules = rules;
    this.#allow = allow;
    INTERNALS.set(this, { ...INTERNALS.get(rules)!, shadowAllow: allow });
    Object.freeze(this);
  }

  isListed(): boolean {
    return true;
  }

  hides(): boolean {
    return false;
  }

  wouldList(tool: string): boolean {
    return this.#rules.wouldList(tool);
  }

  decide(call: ToolCall, context?: DecideContext): Decision {
    // Arguments that do not fit the tool are refused even here: a shadow policy relaxes rules, not the call's shape.
    const invalid = this.#rules.checkArguments(call, context);
    if (invalid !== null) return invalid;
    return withShadow(this.#allow, this.#rules.decide(call, withoutApprovals(context)));
  }

  async decideAsync(call: ToolCall, context?: DecideContext): Promise<Decision> {
    const invalid = this.#rules.checkArguments(call, context);
    if (invalid !== null) return invalid;
    return withShadow(this.#allow, await this.#rules.decideAsync(call, withoutApprovals(context)));
  }

  prepare(call: ToolCall, context?: DecideContext): Decision | PendingDecision {
    const invalid = this.#rules.checkArguments(call, context);
    if (invalid !== null) return invalid;
    const allow = this.#allow;
    return this.#rules.prepareWith(call, withoutApprovals(context), (d) => withShadow(allow, d));
  }
}

function withoutApprovals(context: DecideContext | undefined): DecideContext | undefined {
  if (context?.approvals === undefined) return context;
  const { approvals: _, ...rest } = context;
  return rest;
}

const MATCH = 1 as const;
const NO_MATCH = 0 as const;

/** ANDs a gate's conditions: MATCH, NO_MATCH, or the fail-closed denial of a too-long value. */
function matchAll(g: CompiledGate, call: ToolCall): typeof MATCH | typeof NO_MATCH | Decision {
  const cs = g.conditions;
  for (let i = 0; i < cs.length; i++) {
    const o = cs[i]!.test(call);
    if (o === Outcome.False) return NO_MATCH;
    if (o === Outcome.TooLong) return g.tooLong[i]!;
  }
  return MATCH;
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

/**
 * What the decision tracer (`explain/decision-tracer.ts`) reads of a compiled policy: the very
 * compiled conditions, limits and decisions `decide` runs, so that a trace cannot drift from
 * the decision it explains. Internal to this package (not exported from its index).
 */
export interface CompiledInternals {
  readonly parts: EvaluatorParts;
  /** Step 2, exactly as `decide` runs it. */
  readonly checkArguments: (call: ToolCall, context: DecideContext | undefined) => Decision | null;
  /** For a policy in shadow mode (`"shadow": true`): its enforced decision; null otherwise. */
  readonly shadowAllow: Decision | null;
}

const INTERNALS = new WeakMap<object, CompiledInternals>();

/** The compiled parts behind a policy made by {@link compilePolicy}; undefined for any other object. */
export function compiledInternals(policy: CompiledPolicy): CompiledInternals | undefined {
  return INTERNALS.get(policy);
}

export type { CompiledGate, CompiledLimit, CompiledRequire, CompiledTool, EvaluatorParts };
