import type { RenderedReport, TestFormat } from '../report-formats.js';
import type { TestSuiteResult } from '../test-suite.js';
import { renderJson } from './json-renderer.js';
import { renderJunit } from './junit-renderer.js';
import { renderTestPretty } from './test-pretty-renderer.js';

/** What the test renderers need besides the result. */
export interface TestRenderContext {
  /** Colour the pretty format. */
  readonly colour: boolean;
  /** Show coverage in the pretty format (`--coverage`). */
  readonly coverage: boolean;
}

/**
 * Renders a test run in one of the `--format`s. Pretty output ends with the summary line;
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
  }
}
