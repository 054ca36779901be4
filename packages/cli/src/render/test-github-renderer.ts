import type { TestSuiteResult } from '../test-suite.js';
import { escapeWorkflowData, escapeWorkflowProperty, workflowCommand, type GithubAnnotationOptions } from './github-annotation-renderer.js';
import { rootRelativePath } from './source-root.js';
import { failureText } from './test-failure-format.js';

/**
 * Renders a test run as GitHub Actions workflow commands, like `lint --format github`: an
 * `::error` annotation on each failing case (at its place in the test file, titled with the
 * case's name, the message saying what was expected and what was decided), one for each test
 * or policy file that could not run, one per policy under `--threshold`, then the plain
 * summary line `N passed, M failed`. Passing cases print nothing.
 *
 * @example
 * ::error file=policies/ccxt/orders.test.json,line=12,col=5,title=tollgate test%3A big orders need approval::expected approval_required…
 * 11 passed, 1 failed
 */
export function renderTestGithub(result: TestSuiteResult, options: GithubAnnotationOptions): string {
  const lines: string[] = [];
  for (const d of result.diagnostics) lines.push(workflowCommand(d, options));
  for (const file of result.files) {
    for (const c of file.cases) {
      if (c.passed) continue;
      const path = rootRelativePath(c.file, options.cwd, options.root) ?? c.file;
      const properties = [`file=${escapeWorkflowProperty(path)}`, `line=${c.line}`, `col=${c.column}`, `title=${escapeWorkflowProperty(`tollgate test: ${c.name}`)}`].join(',');
      const message = [`case "${c.name}" failed`, failureText(c)].filter(Boolean).join('\n');
      lines.push(`::error ${properties}::${escapeWorkflowData(message)}`);
    }
  }
  for (const below of result.threshold?.below ?? []) {
    const path = rootRelativePath(below.policy, options.cwd, options.root) ?? below.policy;
    lines.push(
      `::error file=${escapeWorkflowProperty(path)},title=${escapeWorkflowProperty('tollgate test: coverage')}::${escapeWorkflowData(
        `rule coverage of ${below.policy} is ${below.percent}%, below the threshold of ${result.threshold!.percent}%; run tollgate test --coverage to see the rules no case reaches`,
      )}`,
    );
  }
  lines.push(result.summary);
  return lines.join('\n');
}
