import type { ArgumentValidator } from './argument-validator.js';
import type { CompiledCondition } from '../compile/condition-compiler.js';
import type { Decision } from './decision.js';
import type { LimitStore } from './limit-store.js';
import type { PathGetter } from '../compile/path-expression.js';
import type { Policy, Scope } from '../generated/policy-types.js';
import type { PolicyRevision } from '../policy-revision.js';
import type { RuleInfo } from '../compile/policy-rules.js';

/**
 * What the compiler hands the evaluator: a policy's rules as precompiled conditions and
 * shared decisions, indexed by tool. The decision tracer reads the same parts (see
 * `compiled-internals.ts`), so a trace cannot drift from the decision it explains.
 */

export interface CompiledLimit {
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

export interface CompiledGate {
  readonly conditions: readonly CompiledCondition[];
  /** The decision when the gate decides (deny for require/deny_if, approval for approve_if). */
  readonly decision: Decision;
  /** The denial when a value was too long to match a pattern. */
  readonly tooLong: readonly Decision[];
}

export interface CompiledRequire {
  readonly condition: CompiledCondition;
  readonly deny: Decision;
  readonly tooLong: Decision;
}

export interface CompiledTool {
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
}

export interface EvaluatorParts {
  readonly server: string;
  readonly revision: PolicyRevision;
  readonly digest: string;
  readonly policy: Policy;
  readonly rules: readonly RuleInfo[];
  readonly tools: ReadonlyMap<string, CompiledTool>;
  readonly hideSet: ReadonlySet<string>;
  readonly hideAll: boolean;
  readonly hiddenByList: Decision;
  readonly defaultDecision: Decision;
  readonly defaultLimits: readonly CompiledLimit[];
  readonly limits: LimitStore;
  readonly clock: () => number;
  readonly inputSchemas: ReadonlyMap<string, object> | undefined;
  readonly validator: ArgumentValidator;
  /**
   * Whether step 2 (the arguments against the input schema) runs. False only for the
   * recorded side of a shadow policy, whose enforced side has already checked them.
   */
  readonly checksArguments: boolean;
}
