import { ArgumentValidator } from '../evaluate/argument-validator.js';
import { canonicalDigest } from '../canonical-json.js';
import { compileCondition, type CompiledCondition } from './condition-compiler.js';
import type { CompiledGate, CompiledLimit, CompiledRequire, CompiledTool, EvaluatorParts } from '../evaluate/compiled-parts.js';
import { registerInternals } from '../evaluate/compiled-internals.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import type { ApprovalRequirement, Decision } from '../evaluate/decision.js';
import { PolicyError, type Diagnostic, type DiagnosticCode } from '../diagnostic.js';
import { parseDuration } from '../parse/duration.js';
import type { Condition, Limit, Policy, RateLimit, ToolRule, Window } from '../generated/policy-types.js';
import { MemoryLimitStore, type LimitStore } from '../evaluate/limit-store.js';
import { parsePath, type PathGetter } from './path-expression.js';
import { listRules, toolRuleId, type RuleInfo } from './policy-rules.js';
import { PolicyEvaluator } from '../evaluate/policy-evaluator.js';
import { RegexSupportError } from './regex-compiler.js';
import { ShadowPolicy } from '../evaluate/shadow-policy.js';
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

const WINDOWS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86_400 };

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
    // Tool rules in shadow mode; in a policy in shadow every rule is, and a rule's own flag adds nothing.
    const shadowRules = new Set<string>();
    const hideSet = new Set(policy.hide ?? []);
    const hideAll = hideSet.has('*');
    const hiddenByList = this.#decision({ effect: 'hidden', rule: 'hide', reason: 'the tool is hidden by policy', code: 'tool.hidden' });
    for (const [name, rule] of Object.entries(policy.tools ?? {})) {
      if (!rule) continue;
      const shadow = !shadowAll && rule.shadow === true;
      if (shadow) shadowRules.add(name);
      tools.set(name, this.#tool(name, rule, hideSet.has(name) ? hiddenByList : null, allLimits, shadowAll, shadow));
    }
    const defaultDecision =
      policy.default === 'deny'
        ? this.#decision({ effect: 'deny', rule: 'default', reason: 'not allowed by policy (default deny)', code: 'policy.denied' })
        : this.#decision({ effect: 'allow', rule: 'default', reason: 'allowed by policy (default allow)', code: null });
    if (this.diagnostics.length > 0) return undefined as unknown as CompiledPolicy;
    const clock = this.#options.clock ?? Date.now;
    const parts: EvaluatorParts = {
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
      clock,
      inputSchemas: this.#options.inputSchemas,
      validator: this.#options.validator ?? new ArgumentValidator(),
      checksArguments: true,
    };
    if (!shadowAll && shadowRules.size === 0) {
      const evaluator = new PolicyEvaluator(parts);
      registerInternals(evaluator, { parts, checkArguments: (call, context) => evaluator.checkArguments(call, context), shadowAllow: null, shadowRules });
      return evaluator;
    }
    // Shadow mode: the enforced policy decides, the recorded one (the policy's own rules, whose
    // arguments the enforced one has checked) decides for the record.
    const recorded = new PolicyEvaluator({ ...parts, checksArguments: false });
    let enforced: PolicyEvaluator;
    let shadowAllow: Decision | null = null;
    let inShadow: ReadonlySet<string> | 'every tool';
    if (shadowAll) {
      shadowAllow = this.#decision({ effect: 'allow', rule: null, reason: 'allowed: the policy is in shadow mode and enforces nothing', code: null });
      enforced = new PolicyEvaluator({ ...parts, tools: new Map(), hideSet: new Set(), hideAll: false, defaultDecision: shadowAllow, defaultLimits: [] });
      inShadow = 'every tool';
    } else {
      // A tool whose rule is in shadow is enforced as if it were not in `tools`.
      enforced = new PolicyEvaluator({ ...parts, tools: new Map([...tools].filter(([name]) => !shadowRules.has(name))) });
      inShadow = new Set([...shadowRules].filter((name) => !hideSet.has(name)));
    }
    const policyInShadow = new ShadowPolicy(enforced, recorded, inShadow, clock);
    registerInternals(policyInShadow, {
      parts,
      checkArguments: (call, context) => enforced.checkArguments(call, context),
      shadowAllow,
      shadowRules: shadowAll ? new Set() : shadowRules,
    });
    return policyInShadow;
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

  /** `shadow`: the tool's rule is in shadow mode (and the policy is not). */
  #tool(name: string, rule: ToolRule, hiddenByList: Decision | null, allLimits: readonly CompiledLimit[], shadowAll: boolean, shadow: boolean): CompiledTool {
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

