import type { CompiledPolicy, DecideContext } from './compiled-policy.js';
import type { EvaluatorParts } from './compiled-parts.js';
import type { Decision, ToolCall } from './decision.js';

/**
 * What the decision tracer (`explain/decision-tracer.ts`) reads of a compiled policy: the very
 * compiled conditions, limits and decisions `decide` runs, so that a trace cannot drift from
 * the decision it explains. Internal to this package (not exported from its index).
 */
export interface CompiledInternals {
  /** The policy's own rules, compiled (for a policy with rules in shadow: the recorded side's). */
  readonly parts: EvaluatorParts;
  /** Step 2, exactly as `decide` runs it. */
  readonly checkArguments: (call: ToolCall, context: DecideContext | undefined) => Decision | null;
  /** For a policy in shadow mode (`"shadow": true`): its enforced decision; null otherwise. */
  readonly shadowAllow: Decision | null;
  /** The tools whose rule is in shadow mode (`tools.<tool>.shadow`); empty for a policy in shadow mode. */
  readonly shadowRules: ReadonlySet<string>;
}

const INTERNALS = new WeakMap<object, CompiledInternals>();

/** Files the compiled parts behind a policy the compiler made. */
export function registerInternals(policy: CompiledPolicy, internals: CompiledInternals): void {
  INTERNALS.set(policy, Object.freeze(internals));
}

/** The compiled parts behind a policy made by `compilePolicy`; undefined for any other object. */
export function compiledInternals(policy: CompiledPolicy): CompiledInternals | undefined {
  return INTERNALS.get(policy);
}
