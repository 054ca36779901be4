import { lintSummary, type LintResult } from '../lint-runner.js';
import type { LintFormat, RenderedReport } from '../report-formats.js';
import { renderLintGithub } from './github-annotation-renderer.js';
import { renderJson } from './json-renderer.js';
import { renderLintPretty } from './lint-pretty-renderer.js';
import { renderLintSarif } from './sarif-renderer.js';

/** What the lint renderers need besides the result. */
export interface LintRenderContext {
  /** Colour the pretty format. */
  readonly colour: boolean;
  /** The directory diagnostics' paths are relative to. */
  readonly cwd: string;
  /** The repository root (SARIF and GitHub paths are relative to it). */
  readonly root: string;
  /** The CLI's version (SARIF `semanticVersion`). */
  readonly version: string;
}

/** Renders a lint result in one of the `--format`s. */
export function renderLintReport(result: LintResult, format: LintFormat, context: LintRenderContext): RenderedReport {
  const summary = lintSummary(result);
  switch (format) {
    case 'pretty':
      return { text: renderLintPretty(result, { colour: context.colour }), summary, summaryOnStderr: false };
    case 'json':
      return { text: renderJson(result), summary, summaryOnStderr: false };
    case 'github':
      return { text: renderLintGithub(result, context), summary, summaryOnStderr: false };
    case 'sarif':
      return { text: renderLintSarif(result, context), summary, summaryOnStderr: false };
  }
}
