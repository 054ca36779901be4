import { DIAGNOSTIC_CODES, type Diagnostic } from '@tollgate/policy';
import { lintSummary, type LintResult } from '../lint-runner.js';
import { rootRelativePath } from './source-root.js';

/**
 * Escapes the message of a GitHub Actions workflow command (`::error ...::<message>`):
 * `%` -> `%25`, CR -> `%0D`, LF -> `%0A`, as the runner's `escapeData` does.
 */
export function escapeWorkflowData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/**
 * Escapes a property value of a GitHub Actions workflow command (`file=`, `title=`): as
 * {@link escapeWorkflowData}, plus `:` -> `%3A` and `,` -> `%2C`, as the runner's
 * `escapeProperty` does.
 */
export function escapeWorkflowProperty(text: string): string {
  return escapeWorkflowData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** Options of {@link renderLintGithub}. */
export interface GithubAnnotationOptions {
  /** The directory diagnostics' paths are relative to. */
  readonly cwd: string;
  /** The repository root; annotation paths are relative to it (GitHub resolves them from the workspace). */
  readonly root: string;
}

const COMMANDS = { error: 'error', warning: 'warning', info: 'notice' } as const;

/** One workflow command for one diagnostic: `::error file=…,line=…,col=…,title=TG101 redos-regex::message`. */
export function workflowCommand(d: Diagnostic, options: GithubAnnotationOptions): string {
  const file = rootRelativePath(d.file, options.cwd, options.root) ?? d.file;
  const title = `${d.code} ${DIAGNOSTIC_CODES[d.code]?.name ?? ''}`.trim();
  const properties = [
    `file=${escapeWorkflowProperty(file)}`,
    `line=${d.line}`,
    `col=${d.column}`,
    `title=${escapeWorkflowProperty(title)}`,
  ].join(',');
  const message = d.hint ? `${d.message}\n${d.hint}` : d.message;
  return `::${COMMANDS[d.severity]} ${properties}::${escapeWorkflowData(message)}`;
}

/**
 * Renders lint findings as GitHub Actions workflow commands, which show as annotations on
 * the pull request's changed lines (errors as `::error`, warnings as `::warning`, infos as
 * `::notice`), then the plain summary line.
 */
export function renderLintGithub(result: LintResult, options: GithubAnnotationOptions): string {
  return [...result.diagnostics.map((d) => workflowCommand(d, options)), lintSummary(result)].join('\n');
}
