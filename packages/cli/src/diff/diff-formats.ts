/**
 * The flag values of `tollgate diff`. Kept in a module with no imports so the command class
 * can declare its flags without loading the policy package (startup time).
 */
export const DIFF_FORMATS = ['pretty', 'markdown', 'json'] as const;

/** An output format of `tollgate diff`: pretty (people), markdown (the PR comment), json. */
export type DiffFormat = (typeof DIFF_FORMATS)[number];

/** The risk levels `--fail-on-widening` accepts, most severe first (as `RISK_LEVELS` of @tollgate/policy). */
export const WIDENING_LEVELS = ['critical', 'high', 'medium', 'low'] as const;
