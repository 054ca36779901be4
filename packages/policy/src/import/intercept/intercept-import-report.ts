import type { Policy } from '../../generated/policy-types.js';

/**
 * The semantic differences the Intercept importer names. Each is a place where the imported
 * Tollgate policy can decide a call otherwise than Intercept would (its effect, or which
 * rule's message it gives); docs/migrating-from-intercept.md explains each one.
 */
export const IMPORT_DIFFERENCES = {
  'counter-rollback': 'Intercept gives back a counter increment when the upstream call fails; Tollgate counts every admitted call.',
  'lt-with-fractional-increments': 'An `lt` bound on a counter incremented by an argument becomes `max: N-1`, exact only for whole-number amounts.',
  'negative-increment-from': 'A negative amount lowers an Intercept counter; Tollgate denies a call whose amount is negative.',
  'negative-increment': 'A counter with a negative fixed increment cannot be expressed as a Tollgate limit; it was left out.',
  'state-read': 'A condition reads a counter other than as its own rule\'s upper bound; Tollgate conditions cannot read counters, so it was dropped.',
  'limit-order': 'When a tool\'s own counter and a wildcard counter are both exhausted, Intercept names the tool\'s rule, Tollgate the wildcard\'s.',
  'wildcard-on-unlisted-tools': 'Wildcard conditions or deny rules cannot apply to tools not listed in Tollgate; unlisted tools are denied by default instead.',
  'loose-equality': 'Intercept compares loosely (the string "5" equals the number 5); Tollgate compares strictly.',
  'strict-negation': 'Intercept\'s neq/not_in hold for an argument of another type; Tollgate\'s do not, so such a call is denied.',
  'exists-null': 'Intercept counts an argument that is null as absent; Tollgate counts it as present.',
  'regex-dialect': 'Intercept matches Go (RE2) regular expressions; Tollgate matches ECMAScript ones, and denies values over 8,192 characters.',
  'path-array-step': 'A path step that is a number or "length" reads into an array in Tollgate; in Intercept it finds nothing.',
  'path-not-expressible': 'A path Tollgate cannot write (an empty step, or brackets in a key) was replaced by a condition that never holds.',
} as const;

/** A code of {@link IMPORT_DIFFERENCES}. */
export type ImportDifferenceCode = keyof typeof IMPORT_DIFFERENCES;

/** Where a difference or rule is in the Intercept file. */
export interface ImportLocation {
  /** `tools.<tool>.rules[i]`, `tools.<tool>.rules[i].conditions[j]`, `hide` or `default`. */
  readonly at: string;
  readonly line: number;
  readonly column: number;
}

/** One semantic difference the import could not avoid, named and placed. */
export interface ImportDifference extends ImportLocation {
  readonly code: ImportDifferenceCode;
  /** What differs here, concretely. */
  readonly message: string;
}

/**
 * Something that differs in how a decision is presented, not in what is decided: the text of
 * a denial, how a hidden tool is answered, an ignored key. Notes do not make an import inexact.
 */
export interface ImportNote extends ImportLocation {
  readonly code: 'ignored-key' | 'hidden-answer' | 'default-deny-reason' | 'denial-prefix' | 'denied-tools-listed' | 'rule-never-runs';
  readonly message: string;
}

/** What a piece of an Intercept rule became in the Tollgate policy. */
export interface RuleTarget {
  /** The Tollgate construct: `require`, `deny_if`, `limits`, `all_tools`, `action`, `hide`, `default`, or `dropped` (see the differences). */
  readonly kind: 'require' | 'deny_if' | 'limits' | 'all_tools' | 'action' | 'hide' | 'default' | 'dropped';
  /** The Tollgate rule id, e.g. `tools.create_charge.require[1]` or `all_tools.limits[0]`; null when dropped. */
  readonly rule: string | null;
  /** How, in a few words: `args.amount lte 50000`, `at most 5 per hour`. */
  readonly detail: string;
}

/** One Intercept rule and what it became. */
export interface ImportedRule extends ImportLocation {
  readonly tool: string;
  readonly name: string;
  readonly became: readonly RuleTarget[];
}

/** The result of importing one Intercept policy: the Tollgate policy and the report on it. */
export interface InterceptImport {
  /** The Intercept file imported. */
  readonly source: string;
  /** The Tollgate policy (schema-valid, compiles). */
  readonly policy: Policy;
  /** The policy as JSON in the canonical layout of `formatDocument`. */
  readonly text: string;
  /** True when nothing differs: no {@link ImportDifference}. */
  readonly exact: boolean;
  /** Every Intercept rule, in file order, with what it became. */
  readonly rules: readonly ImportedRule[];
  /** What the `hide` list and `default` became. */
  readonly posture: readonly RuleTarget[];
  readonly differences: readonly ImportDifference[];
  readonly notes: readonly ImportNote[];
}
