import type { RenderedReport, TestFormat } from '../report-formats.js';
import type { TestSuiteResult } from '../test-suite.js';
import { renderJson } from './json-renderer.js';
import { renderJunit } from './junit-renderer.js';
import { renderTestGithub } from './test-github-renderer.js';
import { renderTestPretty } from './test-pretty-renderer.js';

/** What the test renderers need besides the result. */
export interface TestRenderContext {
  /** Colour the pretty format. */
  readonly colour: boolean;
  /** Show coverage in the pretty format (`--coverage`). */
  readonly coverage: boolean;
  /** The working directory and the repository root: github annotations name files relative to the root. */
  readonly cwd?: string;
  readonly root?: string;
}

/**
 * Renders a test run in one of the `--format`s. Pretty and github output end with the summary line;
 * the JSON document carries it as `summary`; JUnit XML cannot, so it is printed apart.
 */
export function renderTestReport(result: TestSuiteResult, format: TestFormat, context: TestRenderContext): RenderedReport {
  switch (format) {
    case 'pretty':
      return { text: renderTestPretty(result, context), summary: result.summary, summaryOnStderr: false };
    case 'json':
      return { text: renderJson(result), summary: result.summary, summaryOnStderr: false };
    case 'junit':
      return { text: renderJunit(result), summary: result.summary, summaryOnStderr: true };
    case 'github': {
      const cwd = context.cwd ?? process.cwd();
      return { text: renderTestGithub(result, { cwd, root: context.root ?? cwd }), summary: result.summary, summaryOnStderr: false };
    }
  }
}
