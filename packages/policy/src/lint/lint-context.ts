import { findCatalogTool, type Catalog, type CatalogTool } from '../catalog/catalog.js';
import { classifyTool, toolRisk, type RiskClass } from '../catalog/risk-classifier.js';
import { DIAGNOSTIC_CODES, type Diagnostic, type DiagnosticCode, type Severity } from '../diagnostic.js';
import type { Condition, Policy, ToolRule } from '../generated/policy-types.js';
import { pointerOf, type SourceDocument } from '../parse/source-document.js';

/** Options of `lintPolicy`. */
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

export type Section = 'require' | 'deny_if' | 'approve_if';

/** One condition of a tool rule, where it is, and whether evaluation can ever reach it. */
export interface ConditionSite {
  readonly tool: string;
  readonly section: Section;
  /** Index of the deny_if/approve_if rule; undefined for require. */
  readonly rule: number | undefined;
  readonly pointer: string;
  readonly condition: Condition;
  readonly reachable: boolean;
}

/** How DESIGN §2's evaluation order treats one listed tool. */
export interface ToolView {
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

/**
 * What every lint rule family reads and reports into: the policy, its document and catalog,
 * each listed tool as the evaluation order treats it, each condition with its reachability,
 * and the findings so far (collected up to a ceiling).
 */
export class LintContext {
  readonly diagnostics: Diagnostic[] = [];
  readonly document: SourceDocument;
  readonly policy: Policy;
  readonly options: LintOptions;
  readonly catalog: Catalog | undefined;
  /** The catalog as messages name it. */
  readonly catalogName: string;
  readonly hide: ReadonlySet<string>;
  readonly views: readonly ToolView[];
  readonly sites: readonly ConditionSite[];
  /** True when findings stopped being collected at the internal ceiling. */
  overflowed = false;
  readonly #ceiling: number;

  constructor(document: SourceDocument, policy: Policy, options: LintOptions, limit: number) {
    this.document = document;
    this.policy = policy;
    this.options = options;
    this.catalog = options.catalog;
    this.catalogName = options.catalogFile ?? options.catalog?.file ?? 'the catalog';
    // Collect past the cap, so the truncation note can say how many were left out, but
    // within a ceiling, so that a pathological policy cannot make lint use unbounded memory.
    this.#ceiling = Math.max(limit * 4, 2000);
    this.hide = new Set(policy.hide ?? []);
    this.views = Object.entries(policy.tools ?? {}).flatMap(([name, rule]) => (rule ? [toolView(name, rule, this.hide)] : []));
    this.sites = this.views.flatMap(conditionSites);
  }

  /** Whether the findings have reached the ceiling (the remaining families are not run). */
  get full(): boolean {
    return this.diagnostics.length >= this.#ceiling;
  }

  report(
    code: DiagnosticCode,
    pointer: string,
    message: string,
    extra: { hint?: string; at?: 'key' | 'value'; severity?: Severity; position?: { line: number; column: number } } = {},
  ): void {
    if (this.full) {
      this.overflowed = true;
      return;
    }
    const pos = extra.position ?? this.document.positionOf(pointer, extra.at ?? 'value');
    this.diagnostics.push({
      code,
      severity: extra.severity ?? DIAGNOSTIC_CODES[code].severity,
      file: this.document.file,
      line: pos.line,
      column: pos.column,
      message,
      pointer,
      ...(extra.hint ? { hint: extra.hint } : {}),
    });
  }

  /** `line N` of a JSON pointer, for messages that point at a second place. */
  where(pointer: string): string {
    return `line ${this.document.positionOf(pointer).line}`;
  }

  catalogTool(name: string): CatalogTool | undefined {
    return this.catalog ? findCatalogTool(this.catalog, name) : undefined;
  }

  /** Whether some call to the tool can get past steps 1–3 of DESIGN §2. */
  mayBeAllowed(name: string): boolean {
    if (this.hide.has(name)) return false;
    const rule = this.policy.tools?.[name];
    if (!rule) return !this.hide.has('*') && this.policy.default === 'allow';
    return rule.action !== 'deny' && rule.action !== 'hide';
  }

  /** A tool's risk class: from the catalog, else from its name; undefined when the catalog lacks the tool. */
  riskOf(name: string): { risk: RiskClass & { source: string }; catalogTool: CatalogTool | undefined } | undefined {
    const catalogTool = this.catalogTool(name);
    if (this.catalog && !catalogTool) return undefined;
    const risk = catalogTool ? toolRisk(catalogTool) : { ...classifyTool({ name }), source: 'classifier' as const };
    return { risk, catalogTool };
  }

  /** How a risk class was found, for messages: `, per <catalog>` or `, classified from its name…`. */
  riskSource(risk: { source: string }, catalogTool: CatalogTool | undefined): string {
    return risk.source === 'catalog' ? `, per ${this.catalogName}` : catalogTool ? ', classified from its name and annotations' : ', classified from its name';
  }
}

function toolView(name: string, rule: ToolRule, hide: ReadonlySet<string>): ToolView {
  const hiddenByList = hide.has(name);
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

function conditionSites(v: ToolView): ConditionSite[] {
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

/** One family of lint rules: a module of `lint/rules/`, registered in `lint-rules.ts`. */
export interface LintRuleFamily {
  /** What the family does, as an internal error names it ("lint failed while checking …"). */
  readonly activity: string;
  /** The codes it reports (each documented in docs/lint-rules.md). */
  readonly codes: readonly DiagnosticCode[];
  readonly check: (ctx: LintContext) => void;
}
