/**
 * The output formats of `lint` and `test`. Kept in a module with no imports so command
 * classes can declare their flags without loading the renderers (startup time).
 */
export const LINT_FORMATS = ['pretty', 'json', 'github', 'sarif'] as const;

/** An output format of `tollgate lint`. */
export type LintFormat = (typeof LINT_FORMATS)[number];

/** The output formats of `tollgate test`. */
export const TEST_FORMATS = ['pretty', 'json', 'junit', 'github'] as const;

/** An output format of `tollgate test`. */
export type TestFormat = (typeof TEST_FORMATS)[number];

/**
 * A rendered report: the text, the summary line, and whether the summary goes to stderr
 * when the report goes to stdout (JUnit XML cannot end with a plain line; JSON documents
 * carry the summary inside; pretty and github output end with it).
 */
export interface RenderedReport {
  readonly text: string;
  readonly summary: string;
  readonly summaryOnStderr: boolean;
}
