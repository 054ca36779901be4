import type { Catalog, CatalogTool } from './catalog/catalog.js';
import type { Effect } from './evaluate/decision.js';
import { exampleArguments } from './catalog/example-arguments.js';
import type { Policy, ToolRule } from './generated/policy-types.js';
import type { PolicyTestFile, TestCase } from './generated/test-file-types.js';
import { toolRisk, type RiskCategory, type RiskLevel } from './catalog/risk-classifier.js';

/**
 * How the starter policy treats a tool, from least to most guarded:
 * - `allow`: listed as `{}`, allowed (reads);
 * - `limit`: allowed up to a per-agent rate limit (writes);
 * - `approve`: every call needs a human approval, and approved calls are rate-limited too
 *   (execute, destructive, financial, and anything of high or critical level).
 */
export type StarterTreatment = 'allow' | 'limit' | 'approve';

/** The rate limits of a starter policy. */
export interface StarterLimits {
  /** Calls a minute per agent to a `limit` tool (default 30). */
  readonly write: number;
  /** Approved calls a minute per agent to an `approve` tool (default 10). */
  readonly approved: number;
  /** Calls a minute per agent to the whole server, over all tools (default 120). */
  readonly server: number;
}

/** Options of {@link starterPolicy}. */
export interface StarterPolicyOptions {
  /** The server the policy governs (default: the catalog's `server`, else `server`). */
  readonly server?: string;
  /** The rate limits (see {@link StarterLimits} for the defaults). */
  readonly limits?: Partial<StarterLimits>;
  /** The policy file's name the test file points at (default `policy.json`). */
  readonly policyFile?: string;
}

/** One tool's place in a starter policy: its risk class, treatment and the effect its test expects. */
export interface StarterToolPlan {
  readonly tool: string;
  readonly level: RiskLevel;
  readonly category: RiskCategory;
  readonly treatment: StarterTreatment;
  /** The effect of a first call with no approval. */
  readonly effect: Effect;
  /** The rule id that decides that first call (`null` for a plain allow). */
  readonly rule: string | null;
}

/** What {@link starterPolicy} produces: the policy, its tests and the plan behind both. */
export interface StarterPolicy {
  readonly server: string;
  readonly policy: Policy;
  readonly tests: PolicyTestFile;
  /** Every catalog tool, sorted by name. */
  readonly plan: readonly StarterToolPlan[];
}

/** The default rate limits of a starter policy. */
export const STARTER_LIMITS: StarterLimits = Object.freeze({ write: 30, approved: 10, server: 120 });

const TREATMENT_RANK: Readonly<Record<StarterTreatment, number>> = { allow: 0, limit: 1, approve: 2 };
const BY_CATEGORY: Readonly<Record<RiskCategory, StarterTreatment>> = {
  read: 'allow',
  write: 'limit',
  execute: 'approve',
  destructive: 'approve',
  financial: 'approve',
};
const BY_LEVEL: Readonly<Record<RiskLevel, StarterTreatment>> = {
  low: 'allow',
  medium: 'limit',
  high: 'approve',
  critical: 'approve',
};

/**
 * The treatment of a risk class: the stricter of what its category and its level call for
 * (reads are allowed, writes rate-limited, execute/destructive/financial tools and every
 * high or critical tool need a human approval). A critical tool is therefore never
 * allowed unconditionally, whatever its category.
 *
 * @example starterTreatment('critical', 'financial') // 'approve'
 */
export function starterTreatment(level: RiskLevel, category: RiskCategory): StarterTreatment {
  const a = BY_CATEGORY[category];
  const b = BY_LEVEL[level];
  return TREATMENT_RANK[a] >= TREATMENT_RANK[b] ? a : b;
}

/**
 * A recommended first policy for a server, from its catalog's risk classes (the catalog's
 * reviewed `risk`, else the classifier's): `default: "deny"`, so a tool the server adds
 * later stays off until someone lists it; every catalog tool listed by its
 * {@link starterTreatment}; a server-wide per-agent call limit against runaway loops. With it
 * come tests — one case per tool calling it with arguments built from its input schema
 * ({@link exampleArguments}) and expecting the decision of its treatment, plus, for each
 * approval tool, a case showing the approved call runs. The policy lints clean against the
 * catalog and the tests pass as generated; both are meant to be reviewed and tightened.
 *
 * @example
 * const { policy, tests } = starterPolicy(catalog);
 * writeFileSync('policies/ccxt/policy.json', JSON.stringify(policy, null, 2));
 */
export function starterPolicy(catalog: Catalog, options: StarterPolicyOptions = {}): StarterPolicy {
  const server = options.server ?? catalog.server ?? 'server';
  const limits: StarterLimits = { ...STARTER_LIMITS, ...options.limits };
  const tools = [...catalog.tools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const plan: StarterToolPlan[] = [];
  const rules: Record<string, ToolRule> = {};
  const cases: TestCase[] = [];
  for (const tool of tools) {
    const risk = toolRisk(tool);
    const treatment = starterTreatment(risk.level, risk.category);
    const label = `${risk.level} ${risk.category}`;
    const entry = planOf(tool, risk.level, risk.category, treatment);
    plan.push(entry);
    rules[tool.name] = ruleOf(tool.name, label, treatment, limits);
    cases.push(...casesOf(tool, entry, label));
  }
  const policy: Policy = {
    version: '1',
    description: `Starter policy for "${server}", generated from its catalog's risk classes: reads allowed, writes rate-limited, execute, destructive and financial tools need a human approval; tools not listed are denied. Review it before relying on it.`,
    default: 'deny',
    all_tools: { limits: [{ counter: `${server}-calls`, max: limits.server, window: 'minute', scope: 'agent' }] },
    tools: rules,
  };
  const tests: PolicyTestFile = { policy: options.policyFile ?? 'policy.json', cases: [...cases, unlistedCase(tools)] };
  return { server, policy, tests, plan };
}

function planOf(tool: CatalogTool, level: RiskLevel, category: RiskCategory, treatment: StarterTreatment): StarterToolPlan {
  if (treatment === 'approve') return { tool: tool.name, level, category, treatment, effect: 'approval_required', rule: `tools.${tool.name}.action` };
  return { tool: tool.name, level, category, treatment, effect: 'allow', rule: null };
}

function ruleOf(tool: string, label: string, treatment: StarterTreatment, limits: StarterLimits): ToolRule {
  switch (treatment) {
    case 'allow':
      return { description: `${label}: allowed.` };
    case 'limit':
      return { description: `${label}: allowed, at most ${limits.write} calls a minute per agent.`, rate_limit: { max: limits.write, window: 'minute' } };
    case 'approve':
      return {
        description: `${label}: every call needs a human approval; at most ${limits.approved} approved calls a minute per agent.`,
        action: 'approve',
        reason: `${tool} is ${label}: a person approves each call.`,
        rate_limit: { max: limits.approved, window: 'minute' },
      };
  }
}

function casesOf(tool: CatalogTool, plan: StarterToolPlan, label: string): TestCase[] {
  const call = { tool: tool.name, args: exampleArguments(tool.inputSchema) };
  if (plan.treatment !== 'approve') {
    const what = plan.treatment === 'limit' ? 'is allowed within its rate limit' : 'is allowed';
    return [{ name: `${tool.name} (${label}) ${what}`, call, expect: { effect: 'allow', rule: null } }];
  }
  return [
    { name: `${tool.name} (${label}) needs a human approval`, call, expect: { effect: 'approval_required', rule: plan.rule } },
    { name: `${tool.name} runs once approved`, call, approved: true, expect: { effect: 'allow', rule: plan.rule } },
  ];
}

/** A case for a tool the catalog does not have: the default deny keeps new tools off. */
function unlistedCase(tools: readonly CatalogTool[]): TestCase {
  const names = new Set(tools.map((t) => t.name));
  let name = 'tool_not_in_the_catalog';
  while (names.has(name)) name += '_';
  return { name: 'a tool that is not in the catalog is denied (default deny)', call: { tool: name, args: {} }, expect: { effect: 'deny', rule: 'default' } };
}
