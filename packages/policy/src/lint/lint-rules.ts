import type { LintRuleFamily } from './lint-context.js';
import { approvalRules } from './rules/approval-rules.js';
import { catalogRules } from './rules/catalog-rules.js';
import { conditionRules } from './rules/condition-rules.js';
import { criticalToolRules } from './rules/critical-tool-rules.js';
import { hiddenToolRules } from './rules/hidden-tool-rules.js';
import { limitRules } from './rules/limit-rules.js';
import { reachabilityRules } from './rules/reachability-rules.js';
import { shadowModeRules } from './rules/shadow-mode-rules.js';
import { shadowedRuleRules } from './rules/shadowed-rule-rules.js';

/**
 * Every semantic lint rule family, in the order `lintPolicy` runs them (DESIGN §3). A new
 * rule goes into the family whose concern it shares, or into a new module of `rules/`
 * registered here; its code goes into `DIAGNOSTIC_CODES` and docs/lint-rules.md.
 */
export const LINT_RULE_FAMILIES: readonly LintRuleFamily[] = Object.freeze([
  hiddenToolRules,
  reachabilityRules,
  shadowedRuleRules,
  conditionRules,
  limitRules,
  catalogRules,
  criticalToolRules,
  shadowModeRules,
  approvalRules,
]);
