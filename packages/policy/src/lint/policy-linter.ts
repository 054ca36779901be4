import { createRequire } from 'node:module';
import type { Diagnostics as RecheckDiagnostics, Parameters as RecheckParameters } from 'recheck';
import { canonicalJson } from '../canonical-json.js';
import { resolveArgumentPath, type ArgumentResolution, type SchemaType } from '../catalog/argument-path-resolver.js';
import { findCatalogTool, type Catalog, type CatalogTool } from '../catalog/catalog.js';
import { DIAGNOSTIC_CODES, sortDiagnostics, type Diagnostic, type DiagnosticCode, type Severity } from '../diagnostic.js';
import type { Condition, Limit, Policy, ToolRule } from '../generated/policy-types.js';
import { jsonEqual, jsonType } from '../json-value.js';
import { parsePath } from '../compile/path-expression.js';
import { closestName } from './name-suggestion.js';
import { loadPolicy, type LoadedPolicy } from '../compile/policy-loader.js';
import { compileRegex } from '../compile/regex-compiler.js';
import { classifyTool, toolRisk, type RiskClass } from '../catalog/risk-classifier.js';
import { pointerOf, type SourceDocument } from '../parse/source-document.js';

/** Options of {@link lintPolicy}. */
export interface LintOptions {
  /** The server's catalog (`catalog.json` beside the policy); without it the catalog checks are skipped (TG205). */
  readonly catalog?: Catalog;
  /** Where the catalog came from, named in messages (default: the catalog's own `file`). */
  readonly catalogFile?: string;
  /** Check every `regex` for catastrophic backtracking with recheck (TG101). Default true. */
  readonly checkRegexSafety?: boolean;
  /** How long recheck may analyse one pattern before the result is `unknown` (default 5000 ms). */
  readonly regexTimeoutMs?: number;
  /** Most diagnostics to return (default 200); a TG208 note says how many more there were. */
  readonly maxDiagnostics?: number;
}

/** The result of {@link lintPolicy}. */
export interface LintResult {
  /** Every finding, sorted by position ({@link sortDiagnostics}), at most `maxDiagnostics` (+1 note). */
  readonly diagnostics: Diagnostic[];
  /** `parse`: the text is not JSON/YAML; `schema`: not a policy. Semantic checks ran only when undefined. */
  readonly failedAt: 'parse' | 'schema' | undefined;
}

const DEFAULT_MAX_DIAGNOSTICS = 200;
const DEFAULT_REGEX_TIMEOUT_MS = 5000;

/**
 * Lints one policy file (`tollgate lint`): parse, schema and compile diagnostics from
 * {@link loadPolicy}, then, on a schema-valid policy, the semantic checks of DESIGN §3,
 * each with a stable code (see `docs/lint-rules.md`):
 * TG101 ReDoS-prone regex, TG104 unreachable rule or unused field, TG105 shadowed rule,
 * TG106 empty in/not_in list, TG113 an approval no one can give, TG200 unknown tool, TG201 unknown argument, TG202
 * operator/type mismatch, TG203/TG207 deny_if/approve_if condition bypassable by omitting an
 * optional argument, TG204 unguarded critical tool, TG205 no catalog, TG110–TG112 shadow mode.
 * Pure (no I/O), and it never throws: every problem is a diagnostic.
 *
 * @example
 * const { catalog } = parseCatalog(catalogText, 'policies/ccxt/catalog.json');
 * const { diagnostics } = lintPolicy(policyText, 'policies/ccxt/policy.json', { catalog });
 * for (const d of diagnostics) console.log(formatDiagnostic(d));
 */
export function lintPolicy(text: string, file: string, options: LintOptions = {}): LintResult {
  let loaded: LoadedPolicy;
  try {
    loaded = loadPolicy(String(text), file);
  } catch (error) {
    return { diagnostics: [internalError(file, 'loading the policy', error)], failedAt: 'schema' };
  }
  return lintLoadedPolicy(loaded, file, options);
}

/**
 * {@link lintPolicy} on a policy {@link loadPolicy} has already read (and compiled, with the
 * caller's options): the admission of a policy source lints what it is about to enforce.
 */
export function lintLoadedPolicy(loaded: LoadedPolicy, file: string, options: LintOptions = {}): LintResult {
  const max = Math.max(1, options.maxDiagnostics ?? DEFAULT_MAX_DIAGNOSTICS);
  if (loaded.failedAt === 'parse' || loaded.failedAt === 'schema' || !loaded.document || !loaded.source) {
    const failedAt = loaded.failedAt === 'parse' || !loaded.document ? 'parse' : 'schema';
    return { diagnostics: cap(sortDiagnostics(loaded.diagnostics), max, file), failedAt };
  }
  try {
    const linter = new PolicyLinter(loaded.document, loaded.source, options, max);
    linter.run();
    return { diagnostics: cap(sortDiagnostics([...loaded.diagnostics, ...linter.diagnostics]), max, file, linter.overflowed), failedAt: undefined };
  } catch (error) {
    return { diagnostics: [...loaded.diagnostics, internalError(file, 'starting the checks', error)], failedAt: undefined };
  }
}

function cap(diagnostics: Diagnostic[], max: number, file: string, overflowed = false): Diagnostic[] {
  if (diagnostics.length <= max) return diagnostics;
  const shown = diagnostics.slice(0, max);
  const last = shown[shown.length - 1]!;
  shown.push({
    code: 'TG208',
    severity: 'info',
    file,
    line: last.line,
    column: last.column,
    message: `${overflowed ? 'more than ' : ''}${diagnostics.length - max} more findings not shown (at most ${max} are reported)`,
    hint: 'fix the findings above and lint again',
  });
  return shown;
}

function internalError(file: string, what: string, error: unknown): Diagnostic {
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: 'TG209',
    severity: 'error',
    file,
    line: 1,
    column: 1,
    message: `lint failed while ${what}: ${message}`,
    hint: 'this is a bug in Tollgate; please report it with the policy that caused it',
  };
}

// ---------------------------------------------------------------------------------------------
// ReDoS analysis (recheck), loaded on first use: it is large, and most commands never need it.

type CheckSync = (source: string, flags: string, params?: RecheckParameters) => RecheckDiagnostics;
let checkSync: CheckSync | undefined;
const regexVerdicts = new Map<string, RegexVerdict>();
const MAX_CACHED_VERDICTS = 512;

interface RegexVerdict {
  readonly status: 'safe' | 'vulnerable' | 'unknown';
  readonly complexity?: string;
  readonly attack?: string;
  readonly reason?: string;
}

function analyseRegex(source: string, flags: string, timeoutMs: number): RegexVerdict {
  const key = `${flags}\u0000${timeoutMs}\u0000${source}`;
  const cached = regexVerdicts.get(key);
  if (cached) return cached;
  let verdict: RegexVerdict;
  try {
    checkSync ??= (createRequire(import.meta.url)('recheck') as { checkSync: CheckSync }).checkSync;
    const r = checkSync(source, flags, { timeout: timeoutMs });
    if (r.status === 'vulnerable') {
      verdict = { status: 'vulnerable', complexity: r.complexity.summary, attack: describeAttack(r.attack) };
    } else if (r.status === 'unknown') {
      verdict = { status: 'unknown', reason: r.error.kind === 'timeout' ? `the analysis timed out after ${timeoutMs} ms` : `${r.error.kind}${'message' in r.error ? `: ${r.error.message}` : ''}` };
    } else {
      verdict = { status: 'safe' };
    }
  } catch (error) {
    verdict = { status: 'unknown', reason: `the analyser failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (regexVerdicts.size >= MAX_CACHED_VERDICTS) regexVerdicts.delete(regexVerdicts.keys().next().value!);
  regexVerdicts.set(key, verdict);
  return verdict;
}

function describeAttack(attack: { pattern?: string; string: string }): string {
  // recheck's `pattern` is a compact, escaped JS expression such as 'a' + 'a'.repeat(31) + '\x00'.
  if (typeof attack.pattern === 'string' && attack.pattern.length > 0 && attack.pattern.length <= 160) return attack.pattern;
  const s = JSON.stringify(attack.string.length > 60 ? attack.string.slice(0, 60) : attack.string);
  return attack.string.length > 60 ? `${s}… (${attack.string.length} characters)` : s;
}

// ---------------------------------------------------------------------------------------------

type Section = 'require' | 'deny_if' | 'approve_if';

/** One condition of a tool rule, where it is, and whether evaluation can ever reach it. */
interface ConditionSite {
  readonly tool: string;
  readonly section: Section;
  /** Index of the deny_if/approve_if rule; undefined for require. */
  readonly rule: number | undefined;
  readonly pointer: string;
  readonly condition: Condition;
  readonly reachable: boolean;
}

/** How DESIGN §2's evaluation order treats one listed tool. */
interface ToolView {
  readonly name: string;
  readonly rule: ToolRule;
  readonly pointer: string;
  /** Named in `hide`: nothing in the tool rule runs. */
  readonly hiddenByList: boolean;
  /** Index of the first deny_if rule with no conditions (it denies every call), or -1. */
  readonly denyAll: number;
  /** Index of the first approve_if rule with no conditions, or -1. */
  readonly approveAll: number;
  /** require/deny_if/approve_if can run: not hidden, not action deny/hide/allow. */
  readonly checksRun: boolean;
}

const ARRAY_SECTIONS = ['require', 'deny_if', 'approve_if', 'limits'] as const;
/** What a tool rule says about its approvals; only `action: "approve"` reads them. */
const APPROVAL_FIELDS = ['approvers', 'timeout', 'min_approvals'] as const;
/** The approver that stands for the agent's own user, who approves in-band (DESIGN §5). */
const USER_APPROVER = 'user';

class PolicyLinter {
  readonly diagnostics: Diagnostic[] = [];
  readonly #doc: SourceDocument;
  readonly #policy: Policy;
  readonly #options: LintOptions;
  readonly #catalog: Catalog | undefined;
  readonly #catalogName: string;
  readonly #limit: number;
  /** True when findings stopped being collected at the internal ceiling. */
  overflowed = false;
  readonly #hide: ReadonlySet<string>;
  readonly #views: readonly ToolView[];
  readonly #sites: readonly ConditionSite[];

  constructor(document: SourceDocument, policy: Policy, options: LintOptions, limit: number) {
    this.#doc = document;
    this.#policy = policy;
    this.#options = options;
    this.#catalog = options.catalog;
    this.#catalogName = options.catalogFile ?? options.catalog?.file ?? 'the catalog';
    // Collect past the cap, so the truncation note can say how many were left out, but
    // within a ceiling, so that a pathological policy cannot make lint use unbounded memory.
    this.#limit = Math.max(limit * 4, 2000);
    this.#hide = new Set(policy.hide ?? []);
    this.#views = Object.entries(policy.tools ?? {}).flatMap(([name, rule]) => (rule ? [this.#view(name, rule)] : []));
    this.#sites = this.#views.flatMap((v) => this.#conditionSites(v));
  }

  run(): void {
    const checks: [string, () => void][] = [
      ['checking hidden tools', () => this.#checkHide()],
      ['checking reachability', () => this.#views.forEach((v) => this.#checkReachability(v))],
      ['checking shadowed rules', () => this.#views.forEach((v) => this.#checkShadowing(v))],
      ['checking conditions', () => this.#sites.forEach((s) => this.#checkCondition(s))],
      ['checking limits', () => this.#checkLimits()],
      ['checking the catalog', () => this.#checkCatalog()],
      ['checking critical tools', () => this.#checkCriticalTools()],
      ['checking shadow mode', () => this.#checkShadow()],
      ['checking approvals', () => this.#views.forEach((v) => this.#checkApprovals(v))],
    ];
    for (const [what, check] of checks) {
      if (this.diagnostics.length >= this.#limit) break;
      try {
        check();
      } catch (error) {
        // A check must never take the others down with it, nor throw out of lint.
        this.diagnostics.push(internalError(this.#doc.file, what, error));
      }
    }
    if (!this.#catalog) {
      this.#report('TG205', '', 'no catalog given: tool names, argument names and types, optional arguments and catalog risk classes were not checked', {
        hint: 'put the server\'s catalog.json beside the policy; `tollgate catalog pull <server>` writes it',
        at: 'value',
        position: { line: 1, column: 1 },
      });
    }
  }

  #report(
    code: DiagnosticCode,
    pointer: string,
    message: string,
    extra: { hint?: string; at?: 'key' | 'value'; severity?: Severity; position?: { line: number; column: number } } = {},
  ): void {
    if (this.diagnostics.length >= this.#limit) {
      this.overflowed = true;
      return;
    }
    const pos = extra.position ?? this.#doc.positionOf(pointer, extra.at ?? 'value');
    this.diagnostics.push({
      code,
      severity: extra.severity ?? DIAGNOSTIC_CODES[code].severity,
      file: this.#doc.file,
      line: pos.line,
      column: pos.column,
      message,
      pointer,
      ...(extra.hint ? { hint: extra.hint } : {}),
    });
  }

  #view(name: string, rule: ToolRule): ToolView {
    const hiddenByList = this.#hide.has(name);
    const checksRun = !hiddenByList && rule.action !== 'hide' && rule.action !== 'deny' && rule.action !== 'allow';
    return {
      name,
      rule,
      pointer: pointerOf('tools', name),
      hiddenByList,
      denyAll: (rule.deny_if ?? []).findIndex((r) => r.conditions.length === 0),
      approveAll: (rule.approve_if ?? []).findIndex((r) => r.conditions.length === 0),
      checksRun,
    };
  }

  #conditionSites(v: ToolView): ConditionSite[] {
    const out: ConditionSite[] = [];
    (v.rule.require ?? []).forEach((condition, i) => {
      out.push({ tool: v.name, section: 'require', rule: undefined, pointer: pointerOf('tools', v.name, 'require', i), condition, reachable: v.checksRun });
    });
    (v.rule.deny_if ?? []).forEach((r, j) => {
      const reachable = v.checksRun && (v.denyAll < 0 || j <= v.denyAll);
      r.conditions.forEach((condition, i) => {
        out.push({ tool: v.name, section: 'deny_if', rule: j, pointer: pointerOf('tools', v.name, 'deny_if', j, 'conditions', i), condition, reachable });
      });
    });
    (v.rule.approve_if ?? []).forEach((r, j) => {
      const reachable = v.checksRun && v.rule.action !== 'approve' && v.denyAll < 0 && (v.approveAll < 0 || j <= v.approveAll);
      r.conditions.forEach((condition, i) => {
        out.push({ tool: v.name, section: 'approve_if', rule: j, pointer: pointerOf('tools', v.name, 'approve_if', j, 'conditions', i), condition, reachable });
      });
    });
    return out;
  }

  // TG104: hidden tools whose rules never run, and `default` under `hide: ["*"]`.
  #checkHide(): void {
    for (const v of this.#views) {
      if (!v.hiddenByList) continue;
      const i = (this.#policy.hide ?? []).indexOf(v.name);
      this.#report('TG104', v.pointer, `tools.${v.name} never runs: "${v.name}" is in hide (at ${this.#where(pointerOf('hide', i))}), and a hidden tool is answered as unknown before any of its rules`, {
        at: 'key',
        hint: `remove "${v.name}" from hide to enforce these rules, or remove tools.${v.name}`,
      });
    }
    if (this.#hide.has('*') && this.#policy.default === 'allow') {
      this.#report('TG104', '/default', 'default "allow" never applies: hide contains "*", which hides every tool not listed in tools', {
        hint: 'set default to "deny" to say what happens, or remove "*" from hide to let unlisted tools through',
      });
    }
  }

  #where(pointer: string): string {
    const p = this.#doc.positionOf(pointer);
    return `line ${p.line}`;
  }

  // TG104: rules DESIGN §2's evaluation order never reaches, and fields nothing reads.
  #checkReachability(v: ToolView): void {
    // A tool named in hide never runs at all; #checkHide says so once.
    if (v.hiddenByList) return;
    const { name, rule } = v;
    const at = (key: string): string => pointerOf('tools', name, key);
    const present = (key: (typeof ARRAY_SECTIONS)[number] | 'rate_limit'): boolean =>
      key === 'rate_limit' ? rule.rate_limit !== undefined : (rule[key]?.length ?? 0) > 0;
    if (rule.action === 'deny' || rule.action === 'hide') {
      const verdict = rule.action === 'deny' ? 'denies' : 'hides';
      for (const key of [...ARRAY_SECTIONS, 'rate_limit'] as const) {
        if (!present(key)) continue;
        this.#report('TG104', at(key), `tools.${name}.${key} never runs: action "${rule.action}" ${verdict} every call to "${name}" first`, {
          at: 'key',
          hint: `remove ${key}, or remove action "${rule.action}" if the tool should be allowed under these rules`,
        });
      }
    }
    if (rule.action === 'allow') {
      for (const key of ['require', 'deny_if', 'approve_if'] as const) {
        if (!present(key)) continue;
        this.#report('TG104', at(key), `tools.${name}.${key} never runs: action "allow" skips require, deny_if and approve_if (only limits apply)`, {
          at: 'key',
          hint: `remove action "allow" to enforce ${key}, or remove ${key}`,
        });
      }
    }
    if (v.checksRun && rule.action === 'approve' && present('approve_if')) {
      this.#report('TG104', at('approve_if'), `tools.${name}.approve_if never runs: action "approve" already holds every call for approval`, {
        at: 'key',
        hint: 'remove approve_if, or remove action "approve" to hold only the calls approve_if matches',
      });
    }
    if (v.checksRun) {
      const denyIf = rule.deny_if ?? [];
      if (v.denyAll >= 0) {
        const by = `tools.${name}.deny_if[${v.denyAll}] has no conditions and denies every call first`;
        for (let j = v.denyAll + 1; j < denyIf.length; j++) {
          this.#report('TG104', pointerOf('tools', name, 'deny_if', j), `tools.${name}.deny_if[${j}] never runs: ${by}`, { hint: 'remove it, or give the earlier rule conditions' });
        }
        if (rule.action === 'approve') {
          this.#report('TG104', at('action'), `action "approve" never applies: ${by}`, { hint: 'remove one of the two' });
        } else if (present('approve_if')) {
          this.#report('TG104', at('approve_if'), `tools.${name}.approve_if never runs: ${by}`, { at: 'key', hint: 'remove approve_if, or give the deny_if rule conditions' });
        }
        for (const key of ['limits', 'rate_limit'] as const) {
          if (!present(key)) continue;
          this.#report('TG104', at(key), `tools.${name}.${key} never counts a call: ${by}`, { at: 'key', hint: `remove ${key}, or give the deny_if rule conditions` });
        }
      }
      const approveIf = rule.approve_if ?? [];
      if (v.approveAll >= 0 && v.denyAll < 0 && rule.action !== 'approve') {
        for (let j = v.approveAll + 1; j < approveIf.length; j++) {
          this.#report('TG104', pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}] never runs: approve_if[${v.approveAll}] has no conditions and holds every call first`, {
            hint: 'remove it, or give the earlier rule conditions',
          });
        }
      }
    }
    if (rule.reason !== undefined && rule.action !== 'deny' && rule.action !== 'approve') {
      this.#report('TG104', at('reason'), `tools.${name}.reason is never shown: only action "deny" and action "approve" use it${rule.action ? ` (this tool's action is "${rule.action}")` : ' (this tool has no action)'}`, {
        at: 'key',
        severity: 'warning',
        hint: 'for deny_if give the rule an on_deny; for approve_if give the rule a reason; for require give the condition an on_deny',
      });
    }
    for (const section of ['deny_if', 'approve_if'] as const) {
      (rule[section] ?? []).forEach((r, j) => {
        r.conditions.forEach((c, i) => {
          if (c.on_deny === undefined) return;
          this.#report('TG104', pointerOf('tools', name, section, j, 'conditions', i, 'on_deny'), `on_deny on a condition is only used in require; in ${section} it is never shown`, {
            at: 'key',
            hint: section === 'deny_if' ? `move it to the rule: tools.${name}.deny_if[${j}].on_deny` : `use the rule's reason: tools.${name}.approve_if[${j}].reason`,
          });
        });
      });
    }
  }

  // TG104: approvers/timeout/min_approvals on a tool rule without action "approve"; TG113: approvals no one can give.
  #checkApprovals(v: ToolView): void {
    const { name, rule } = v;
    const fields = APPROVAL_FIELDS.filter((f) => rule[f] !== undefined);
    if (rule.action !== 'approve') {
      // A hidden tool's rule never runs at all; #checkHide says so once.
      if (v.hiddenByList) return;
      const hasApproveIf = (rule.approve_if ?? []).length > 0;
      for (const field of fields) {
        const first = hasApproveIf ? `tools.${name}.approve_if[0].${field}` : undefined;
        this.#report('TG104', pointerOf('tools', name, field), `tools.${name}.${field} is never used: on a tool rule, approvers, timeout and min_approvals only go with action "approve"${rule.action ? ` (this tool's action is "${rule.action}")` : ' (this tool has no action)'}`, {
          at: 'key',
          hint: first ? `move it to the approve_if rule it is meant for, e.g. ${first}` : `add action "approve" to hold every call for approval, or remove ${field}`,
        });
      }
    } else {
      this.#checkApprovalRequirement(name, pointerOf('tools', name), `action "approve" of "${name}"`, rule);
    }
    (rule.approve_if ?? []).forEach((r, j) => this.#checkApprovalRequirement(name, pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}]`, r));
  }

  #checkApprovalRequirement(tool: string, pointer: string, what: string, r: { approvers?: string[]; min_approvals?: number }): void {
    const approvers = r.approvers;
    if (approvers === undefined) return;
    if (approvers.length === 0) {
      this.#report('TG113', `${pointer}/approvers`, `${what} can never be approved: "approvers" is empty, so no one may decide its requests and every call to "${tool}" it holds expires`, {
        hint: 'name the approver ids or groups who may approve, or remove "approvers" to let any configured approver decide',
      });
      return;
    }
    const min = r.min_approvals ?? 1;
    if (min > 1 && approvers.length === 1 && approvers[0] === USER_APPROVER) {
      this.#report('TG113', `${pointer}/min_approvals`, `${what} can never be approved: it needs ${min} distinct approvers, but "approvers" is ["user"], the agent's own user, who is one person`, {
        hint: 'add the approver ids or groups who make up the other approvals (e.g. ["user", "risk-desk"]), or set min_approvals to 1',
      });
    }
  }

  // TG105: a rule whose conditions include all of an earlier rule's can never be the first to match.
  #checkShadowing(v: ToolView): void {
    if (!v.checksRun) return;
    const { name, rule } = v;
    const denyIf = (rule.deny_if ?? []).map((r) => conditionKeys(r.conditions));
    const approveIf = (rule.approve_if ?? []).map((r) => conditionKeys(r.conditions));
    const shadowedBy = (keys: ReadonlySet<string>, earlier: readonly ReadonlySet<string>[], upTo: number): number => {
      for (let i = 0; i < upTo; i++) {
        const e = earlier[i]!;
        // An earlier rule with no conditions makes the later one unreachable: TG104 says so.
        if (e.size === 0) return -1;
        if ([...e].every((k) => keys.has(k))) return i;
      }
      return -1;
    };
    denyIf.forEach((keys, j) => {
      if (v.denyAll >= 0 && j > v.denyAll) return;
      const i = shadowedBy(keys, denyIf, j);
      if (i < 0) return;
      this.#report('TG105', pointerOf('tools', name, 'deny_if', j), `tools.${name}.deny_if[${j}] never decides: every call it matches is denied first by deny_if[${i}], whose conditions it includes`, {
        hint: `remove it, merge it into deny_if[${i}], or move it before deny_if[${i}] if its on_deny should win`,
      });
    });
    if (rule.action === 'approve' || v.denyAll >= 0) return;
    approveIf.forEach((keys, j) => {
      if (v.approveAll >= 0 && j > v.approveAll) return;
      const d = shadowedBy(keys, denyIf, denyIf.length);
      if (d >= 0) {
        this.#report('TG105', pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}] never holds a call: every call it matches is denied first by deny_if[${d}], whose conditions it includes`, {
          hint: `remove it, or narrow deny_if[${d}] if such calls should be approved instead`,
        });
        return;
      }
      const i = shadowedBy(keys, approveIf, j);
      if (i < 0) return;
      this.#report('TG105', pointerOf('tools', name, 'approve_if', j), `tools.${name}.approve_if[${j}] never decides: every call it matches is held first by approve_if[${i}], whose conditions it includes`, {
        hint: `remove it, merge it into approve_if[${i}], or move it first if its approvers or timeout should win`,
      });
    });
  }

  #checkCondition(site: ConditionSite): void {
    const c = site.condition;
    const value: unknown = c.value;
    if ((c.op === 'in' || c.op === 'not_in') && Array.isArray(value) && value.length === 0) {
      this.#report('TG106', `${site.pointer}/value`, `"${c.op}" with an empty list never holds${c.op === 'not_in' ? ' (not_in is false for a value whose type matches no member, and an empty list has no members)' : ''}`, {
        hint: c.op === 'in' ? 'list the allowed values, or remove the condition' : `list the values to exclude; to test presence use { "path": "${c.path}", "op": "exists" }`,
      });
    }
    if (c.op === 'regex' && typeof value === 'string' && this.#options.checkRegexSafety !== false) this.#checkRegex(site, value, c.flags ?? '');
    let root: 'args' | 'agent' | 'session';
    try {
      root = parsePath(c.path).root;
    } catch {
      return;
    }
    if (root !== 'args') {
      // agent.id, agent.labels.<key> and session.id are always strings, set by the gateway.
      this.#checkOperand(site, c.path, { types: ['string'], itemTypes: null });
      return;
    }
    const tool = this.#catalogTool(site.tool);
    if (!tool) return;
    const resolution = resolveArgumentPath(tool, c.path);
    if (resolution.status === 'unknown') {
      this.#reportUnknownArgument(`${site.pointer}/path`, site.tool, c.path, resolution);
      return;
    }
    if (resolution.status === 'found') this.#checkOperand(site, c.path, resolution);
    if ((site.section === 'deny_if' || site.section === 'approve_if') && site.reachable && c.op !== 'exists') this.#checkOmission(site, resolution);
  }

  #checkRegex(site: ConditionSite, pattern: string, flags: string): void {
    try {
      compileRegex(pattern, flags);
    } catch {
      return; // TG100 from the compiler already reports it.
    }
    const verdict = analyseRegex(pattern, flags, this.#options.regexTimeoutMs ?? DEFAULT_REGEX_TIMEOUT_MS);
    const shown = JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern);
    if (verdict.status === 'vulnerable') {
      this.#report('TG101', `${site.pointer}/value`, `regex ${shown} is open to catastrophic backtracking (ReDoS, ${verdict.complexity}): an input like ${verdict.attack} makes matching take ${verdict.complexity?.includes('exponential') ? 'exponential' : 'polynomial'} time`, {
        hint: 'remove nested or overlapping quantifiers such as (a+)+, (a|a)* or \\s*x*\\s*, anchor the pattern, and bound repetition with {m,n}',
      });
    } else if (verdict.status === 'unknown') {
      this.#report('TG101', `${site.pointer}/value`, `regex ${shown} could not be proven safe from catastrophic backtracking: ${verdict.reason}`, {
        severity: 'warning',
        hint: 'simplify the pattern, with fewer nested quantifiers and alternations, so it can be checked',
      });
    }
  }

  #catalogTool(name: string): CatalogTool | undefined {
    return this.#catalog ? findCatalogTool(this.#catalog, name) : undefined;
  }

  #reportUnknownArgument(pointer: string, tool: string, path: string, r: ArgumentResolution, prefix = ''): void {
    let segments: readonly (string | number)[];
    try {
      segments = parsePath(path).segments;
    } catch {
      return;
    }
    const i = r.failedAt ?? 0;
    const segment = segments[i];
    const parent = pathText(segments.slice(0, i));
    const known = r.known ?? [];
    let message: string;
    let hint: string | undefined;
    switch (r.problem) {
      case 'not-an-object':
        message = `${path}: ${parent} is ${describeTypes(r.actual ?? [])}, not an object, so it has no "${String(segment)}"`;
        break;
      case 'not-an-array':
        message = `${path}: ${parent} is ${describeTypes(r.actual ?? [])}, not an array, so it has no [${String(segment)}]`;
        break;
      case 'index-out-of-range':
        message = `${path}: the input schema of "${tool}" allows no item at ${parent}[${String(segment)}]`;
        break;
      default: {
        message = i === 0 ? `tool "${tool}" has no argument "${String(segment)}" in ${this.#catalogName}` : `${path}: ${parent} has no property "${String(segment)}" in the input schema of "${tool}"`;
        const suggestion = closestName(String(segment), known);
        hint = suggestion
          ? `did you mean "${suggestion}"?`
          : known.length > 0
            ? `${i === 0 ? 'its arguments are' : 'its properties are'}: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`
            : `${i === 0 ? 'the tool takes no arguments' : 'it has no properties'}`;
      }
    }
    this.#report('TG201', pointer, prefix + message, { ...(hint ? { hint } : {}) });
  }

  // TG202: operator and operand against the argument's JSON Schema type(s) and enum.
  #checkOperand(site: ConditionSite, path: string, r: Pick<ArgumentResolution, 'types' | 'enum' | 'itemTypes'>): void {
    const types = r.types;
    if (types === null) return;
    const c = site.condition;
    const value: unknown = c.value;
    const is = `${path} is ${describeTypes(types)}`;
    const never = 'so the condition can never hold';
    switch (c.op) {
      case 'lt':
      case 'lte':
      case 'gt':
      case 'gte': {
        const kind = typeof value === 'number' ? 'number' : 'string';
        if (fits(kind === 'number' ? 0.5 : '', types) || (kind === 'number' && types.includes('integer'))) return;
        this.#report('TG202', `${site.pointer}/value`, `${is}, but "${c.op}" ${JSON.stringify(value)} compares ${kind}s (comparisons never convert types), ${never}`, {
          hint: types.includes('string') || types.includes('number') || types.includes('integer') ? `compare with a ${types.includes('string') ? 'string' : 'number'} value` : `"${c.op}" works on numbers and strings; use eq, in or exists for ${describeTypes(types)}`,
        });
        return;
      }
      case 'regex':
        if (types.includes('string')) return;
        this.#report('TG202', `${site.pointer}/op`, `${is}, but "regex" matches strings only, ${never}`, { hint: `use eq, in or a comparison for ${describeTypes(types)}` });
        return;
      case 'contains': {
        const onString = typeof value === 'string' && types.includes('string');
        const onArray = types.includes('array') && (r.itemTypes === null || fits(value, r.itemTypes));
        if (onString || onArray) return;
        if (!types.includes('string') && !types.includes('array')) {
          this.#report('TG202', `${site.pointer}/op`, `${is}, but "contains" works on strings and arrays only, ${never}`, { hint: 'use eq or in to test a single value' });
        } else {
          const target = types.includes('array') ? `an array of ${describeTypes(r.itemTypes ?? [], true)}` : 'a string';
          this.#report('TG202', `${site.pointer}/value`, `${path} is ${target}, so it can never contain ${JSON.stringify(value)}`, {
            hint: types.includes('array') ? `look for ${describeTypes(r.itemTypes ?? [])} element` : 'look for a substring: a string value',
          });
        }
        return;
      }
      case 'eq':
      case 'neq': {
        if (!fits(value, types)) {
          this.#report('TG202', `${site.pointer}/value`, `${is}, but ${JSON.stringify(value)} is ${describeValue(value)} (no type conversion), ${c.op === 'eq' ? never : 'so "neq" is false for every valid call (a value of another type never satisfies neq)'}`, {
            hint: `compare with ${describeTypes(types)}`,
          });
          return;
        }
        if (c.op === 'eq' && r.enum && !r.enum.some((e) => jsonEqual(e, value))) {
          this.#report('TG202', `${site.pointer}/value`, `${path} is one of ${r.enum.map((e) => JSON.stringify(e)).join(', ')}, so eq ${JSON.stringify(value)} ${never}`, { hint: 'use one of the allowed values' });
        }
        return;
      }
      case 'in':
      case 'not_in': {
        if (!Array.isArray(value) || value.length === 0) return;
        const fitting = value.filter((m) => fits(m, types));
        if (fitting.length === 0) {
          this.#report('TG202', `${site.pointer}/value`, `${is}, but no member of the list is (no type conversion), ${c.op === 'in' ? never : 'so "not_in" is false for every valid call'}`, { hint: `list ${describeTypes(types, false, true)} values` });
          return;
        }
        value.forEach((m, i) => {
          if (!fits(m, types)) {
            this.#report('TG202', `${site.pointer}/value/${i}`, `${is}: the member ${JSON.stringify(m)} is ${describeValue(m)} and can never match`, { severity: 'warning', hint: 'remove it, or write it with the argument\'s type' });
          }
        });
        if (c.op === 'in' && r.enum) {
          const enumValues = r.enum;
          const inside = fitting.filter((m) => enumValues.some((e) => jsonEqual(e, m)));
          if (inside.length === 0) {
            this.#report('TG202', `${site.pointer}/value`, `${path} is one of ${enumValues.map((e) => JSON.stringify(e)).join(', ')}, and no member of the list is, ${never}`, { hint: 'list allowed values' });
            return;
          }
          value.forEach((m, i) => {
            if (fits(m, types) && !enumValues.some((e) => jsonEqual(e, m))) {
              this.#report('TG202', `${site.pointer}/value/${i}`, `${path} is one of ${enumValues.map((e) => JSON.stringify(e)).join(', ')}: the member ${JSON.stringify(m)} can never match`, { severity: 'warning', hint: 'remove it' });
            }
          });
        }
        return;
      }
      case 'exists':
        return;
    }
  }

  // TG203/TG207: a deny_if/approve_if condition on an argument a valid call may leave out.
  #checkOmission(site: ConditionSite, r: ArgumentResolution): void {
    if (r.required) return;
    const path = site.condition.path;
    const rule = this.#policy.tools?.[site.tool];
    // A require condition on the path (or below it) denies calls that leave it out, before deny_if runs.
    const guarded = (rule?.require ?? []).some((q) => !(q.op === 'exists' && q.value === false) && (q.path === path || q.path.startsWith(`${path}.`) || q.path.startsWith(`${path}[`)));
    if (guarded) return;
    const step = r.steps.find((s) => !s.required);
    const optional = step === undefined ? path : pathText(pathSegments(path).slice(0, r.steps.indexOf(step) + 1));
    const deny = site.section === 'deny_if';
    const ruleId = `tools.${site.tool}.${site.section}[${site.rule ?? 0}]`;
    this.#report(deny ? 'TG203' : 'TG207', `${site.pointer}/path`,
      `${optional} is optional for "${site.tool}": a call that leaves it out skips ${ruleId}, so the ${deny ? 'deny' : 'approval'} is bypassable by omission`,
      { hint: `add { "path": "${path}", "op": "exists" } to tools.${site.tool}.require so calls without it are denied, or express the check as a require condition` });
  }

  // TG201/TG202 for increment_from: a spend cap needs a number, or it denies every call (fail closed).
  #checkLimits(): void {
    const allTools = this.#policy.all_tools?.limits ?? [];
    allTools.forEach((limit, i) => this.#checkAllToolsIncrement(limit, pointerOf('all_tools', 'limits', i)));
    for (const v of this.#views) {
      (v.rule.limits ?? []).forEach((limit, i) => {
        if (limit.increment_from === undefined) return;
        const pointer = pointerOf('tools', v.name, 'limits', i, 'increment_from');
        const path = limit.increment_from;
        let root: string;
        try {
          root = parsePath(path).root;
        } catch {
          return;
        }
        if (root !== 'args') {
          this.#report('TG202', pointer, `increment_from ${path} is a string, not a number: the spend limit denies every call to "${v.name}" (fail closed)`, { hint: 'point increment_from at a numeric argument, e.g. args.amount' });
          return;
        }
        const tool = this.#catalogTool(v.name);
        if (!tool) return;
        const r = resolveArgumentPath(tool, path);
        if (r.status === 'unknown') {
          this.#reportUnknownArgument(pointer, v.name, path, r, 'increment_from: ');
        } else if (r.status === 'found' && r.types !== null && !r.types.includes('number') && !r.types.includes('integer')) {
          this.#report('TG202', pointer, `increment_from ${path} is ${describeTypes(r.types)}, not a number: the spend limit denies every call to "${v.name}" (fail closed)`, { hint: 'point increment_from at a numeric argument' });
        }
      });
    }
  }

  #checkAllToolsIncrement(limit: Limit, limitPointer: string): void {
    if (limit.increment_from === undefined) return;
    const pointer = `${limitPointer}/increment_from`;
    const path = limit.increment_from;
    let root: string;
    try {
      root = parsePath(path).root;
    } catch {
      return;
    }
    if (root !== 'args') {
      this.#report('TG202', pointer, `increment_from ${path} is a string, not a number: this limit denies every call to the server (fail closed)`, { hint: 'point increment_from at a numeric argument, e.g. args.amount' });
      return;
    }
    if (!this.#catalog) return;
    const missing: string[] = [];
    const wrong: string[] = [];
    for (const tool of this.#catalog.tools) {
      if (!this.#mayBeAllowed(tool.name)) continue;
      const r = resolveArgumentPath(tool, path);
      if (r.status === 'unknown') missing.push(tool.name);
      else if (r.status === 'found' && r.types !== null && !r.types.includes('number') && !r.types.includes('integer')) wrong.push(tool.name);
    }
    const list = (names: string[]): string => names.slice(0, 8).map((n) => `"${n}"`).join(', ') + (names.length > 8 ? ` and ${names.length - 8} more` : '');
    if (missing.length > 0) {
      this.#report('TG201', pointer, `increment_from ${path}: ${list(missing)} ${missing.length === 1 ? 'has' : 'have'} no such argument, so this all_tools limit denies every call to ${missing.length === 1 ? 'it' : 'them'} (fail closed)`, {
        hint: 'move the spend limit to the tools that take this argument (tools.<tool>.limits)',
      });
    }
    if (wrong.length > 0) {
      this.#report('TG202', pointer, `increment_from ${path} is not a number in ${list(wrong)}, so this all_tools limit denies every call to ${wrong.length === 1 ? 'it' : 'them'} (fail closed)`, {
        hint: 'move the spend limit to the tools whose argument is a number',
      });
    }
  }

  /** Whether some call to the tool can get past steps 1–3 of DESIGN §2. */
  #mayBeAllowed(name: string): boolean {
    if (this.#hide.has(name)) return false;
    const rule = this.#policy.tools?.[name];
    if (!rule) return !this.#hide.has('*') && this.#policy.default === 'allow';
    return rule.action !== 'deny' && rule.action !== 'hide';
  }

  // TG200: tools named in `tools` or `hide` that the server does not have.
  #checkCatalog(): void {
    const catalog = this.#catalog;
    if (!catalog) return;
    const names = catalog.tools.map((t) => t.name);
    const unknown = (name: string, pointer: string, at: 'key' | 'value', where: string): void => {
      const suggestion = closestName(name, names);
      this.#report('TG200', pointer, `tool "${name}" in ${where} is not in ${this.#catalogName}`, {
        at,
        hint: suggestion ? `did you mean "${suggestion}"?` : `check the name, or refresh the catalog with \`tollgate catalog pull\`${catalog.server ? ` (server "${catalog.server}")` : ''}`,
      });
    };
    for (const v of this.#views) if (!findCatalogTool(catalog, v.name)) unknown(v.name, v.pointer, 'key', 'tools');
    (this.#policy.hide ?? []).forEach((name, i) => {
      if (name !== '*' && !findCatalogTool(catalog, name)) unknown(name, pointerOf('hide', i), 'value', 'hide');
    });
  }

  /** A tool's risk class: from the catalog, else from its name; undefined when the catalog lacks the tool. */
  #riskOf(name: string): { risk: RiskClass & { source: string }; catalogTool: CatalogTool | undefined } | undefined {
    const catalogTool = this.#catalog ? findCatalogTool(this.#catalog, name) : undefined;
    if (this.#catalog && !catalogTool) return undefined;
    const risk = catalogTool ? toolRisk(catalogTool) : { ...classifyTool({ name }), source: 'classifier' as const };
    return { risk, catalogTool };
  }

  /** How a risk class was found, for messages: `, per <catalog>` or `, classified from its name…`. */
  #riskSource(risk: { source: string }, catalogTool: CatalogTool | undefined): string {
    return risk.source === 'catalog' ? `, per ${this.#catalogName}` : catalogTool ? ', classified from its name and annotations' : ', classified from its name';
  }

  // TG110–TG112: shadow mode (docs/policy-language.md, "Shadow mode").
  #checkShadow(): void {
    const policy = this.#policy;
    if (policy.shadow === true) {
      this.#report('TG110', '/shadow', 'the policy is in shadow mode: it enforces nothing — every call is allowed and every tool listed; its decisions are only recorded (shadow_effect, shadow_rule)', {
        hint: 'remove "shadow": true to enforce the policy once its recorded decisions look right (audit_shadow_decisions in the ledger shows them)',
      });
      for (const v of this.#views) {
        if (v.rule.shadow !== true) continue;
        this.#report('TG112', pointerOf('tools', v.name, 'shadow'), `tools.${v.name}.shadow changes nothing: the whole policy is already in shadow mode`, {
          at: 'key',
          hint: 'remove it; to keep this tool in shadow once the policy is enforced, leave it and remove the top-level "shadow" instead',
        });
      }
      return;
    }
    const hideAll = this.#hide.has('*');
    const enforced: 'allow' | 'deny' | 'hidden' = hideAll ? 'hidden' : policy.default;
    for (const v of this.#views) {
      const { name, rule } = v;
      // A tool named in hide never reaches its rule: TG104 says so.
      if (rule.shadow !== true || v.hiddenByList) continue;
      if (decidesLikeDefault(rule, enforced)) {
        const by = hideAll ? 'hide "*"' : `default "${policy.default}"`;
        this.#report('TG112', pointerOf('tools', name, 'shadow'), `tools.${name} is in shadow mode, but its rule decides every call as ${by} does: the shadow decision never differs from the enforced one`, {
          at: 'key',
          hint: `add the conditions, limits or action to try out in shadow, or remove tools.${name}`,
        });
      }
      if (enforced !== 'allow') continue;
      const classified = this.#riskOf(name);
      if (!classified || classified.risk.level !== 'critical') continue;
      const { risk, catalogTool } = classified;
      const source = this.#riskSource(risk, catalogTool);
      const serverLimits = (policy.all_tools?.limits?.length ?? 0) > 0;
      this.#report('TG111', pointerOf('tools', name, 'shadow'), `"${name}" is a critical-risk tool (${risk.category}${source}) whose rule is in shadow mode: its calls are decided by default "allow"${serverLimits ? ' (only all_tools limits apply)' : ', with no condition, limit or approval in the way'}`, {
        at: 'key',
        hint: 'keep the tool\'s rule enforced (remove "shadow") until the change has been tried, or try it under default "deny"',
      });
    }
  }

  // TG204: a critical tool an agent can call with no condition, limit or approval in the way.
  #checkCriticalTools(): void {
    const policy = this.#policy;
    const serverLimits = (policy.all_tools?.limits?.length ?? 0) > 0;
    const message = (name: string, risk: RiskClass, how: string, source: string): string =>
      `"${name}" is a critical-risk tool (${risk.category}${source}) and ${how} with no condition, limit or approval`;
    const hint = 'add require/deny_if conditions, a limit or rate_limit, approve_if or action "approve" — or deny or hide it';
    for (const v of this.#views) {
      const { name, rule } = v;
      if (v.hiddenByList || rule.action === 'deny' || rule.action === 'hide' || rule.action === 'approve') continue;
      // A rule in shadow mode guards nothing: TG111 speaks for it.
      if (rule.shadow === true && policy.shadow !== true) continue;
      const classified = this.#riskOf(name);
      if (!classified) continue; // TG200 already.
      const { risk, catalogTool } = classified;
      if (risk.level !== 'critical') continue;
      const limited = serverLimits || (rule.limits?.length ?? 0) > 0 || rule.rate_limit !== undefined;
      const conditioned = rule.action !== 'allow' && v.denyAll < 0 && ((rule.require?.length ?? 0) > 0 || (rule.deny_if?.length ?? 0) > 0 || (rule.approve_if?.length ?? 0) > 0);
      if (v.denyAll >= 0 && rule.action !== 'allow') continue; // every call is denied
      if (limited || conditioned) continue;
      const how = rule.action === 'allow' ? 'is allowed by action "allow"' : 'is allowed';
      const source = this.#riskSource(risk, catalogTool);
      this.#report('TG204', v.pointer, message(name, risk, how, source), { at: 'key', hint });
    }
    if (!this.#catalog || policy.default !== 'allow' || this.#hide.has('*') || serverLimits) return;
    for (const tool of this.#catalog.tools) {
      if (policy.tools?.[tool.name] !== undefined || this.#hide.has(tool.name)) continue;
      const risk = toolRisk(tool);
      if (risk.level !== 'critical') continue;
      const source = risk.source === 'catalog' ? `, per ${this.#catalogName}` : ', classified from its name and annotations';
      this.#report('TG204', '/default', message(tool.name, risk, 'is allowed by default "allow"', source), {
        hint: `list "${tool.name}" in tools with conditions, limits or an approval, hide it, or set default to "deny"`,
      });
    }
  }
}

/** Whether a tool rule decides every call as a tool not in `tools` would be under `effect`. */
function decidesLikeDefault(rule: ToolRule, effect: 'allow' | 'deny' | 'hidden'): boolean {
  const restricts =
    (rule.require?.length ?? 0) > 0 ||
    (rule.deny_if?.length ?? 0) > 0 ||
    (rule.approve_if?.length ?? 0) > 0 ||
    (rule.limits?.length ?? 0) > 0 ||
    rule.rate_limit !== undefined;
  if (effect === 'allow') return !restricts && (rule.action === undefined || rule.action === 'allow');
  return rule.action === (effect === 'deny' ? 'deny' : 'hide');
}

/** Canonical keys of conditions as they decide (without on_deny), for shadowing. */
function conditionKeys(conditions: readonly Condition[]): Set<string> {
  return new Set(
    conditions.map((c) => {
      const key: Record<string, unknown> = { path: c.path, op: c.op };
      if (c.op === 'exists') key.value = c.value ?? true;
      else if (c.value !== undefined) key.value = c.value;
      if (c.op === 'regex' && c.flags) key.flags = [...c.flags].sort().join('');
      try {
        return canonicalJson(key);
      } catch {
        return JSON.stringify(key);
      }
    }),
  );
}

function pathSegments(path: string): readonly (string | number)[] {
  try {
    return parsePath(path).segments;
  } catch {
    return [];
  }
}

function pathText(segments: readonly (string | number)[]): string {
  let out = 'args';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : `.${s}`;
  return out;
}

function fits(value: unknown, types: readonly SchemaType[]): boolean {
  const t = jsonType(value);
  if (t === 'number') return types.includes('number') || (types.includes('integer') && Number.isInteger(value));
  if (t === 'other') return false;
  return types.includes(t);
}

const ARTICLE: Record<SchemaType, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  null: 'null',
  array: 'an array',
  object: 'an object',
};

/** "a string", "a number or a string"; `plural` gives "strings"; `bare` drops the article. */
function describeTypes(types: readonly SchemaType[], plural = false, bare = false): string {
  if (types.length === 0) return plural ? 'values of no type' : 'of no possible type';
  const words = types.map((t) => (plural ? (t === 'null' ? 'nulls' : `${t}s`) : bare ? ARTICLE[t].replace(/^an? /, '') : ARTICLE[t]));
  return words.length === 1 ? words[0]! : `${words.slice(0, -1).join(', ')} or ${words.at(-1)!}`;
}

function describeValue(value: unknown): string {
  const t = jsonType(value);
  if (t === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return t === 'other' ? 'not a JSON value' : ARTICLE[t];
}
