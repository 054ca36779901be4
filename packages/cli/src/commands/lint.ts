import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import type { LintResult } from '../lint-runner.js';
import { LINT_FORMATS } from '../report-formats.js';

/**
 * `tollgate lint [paths…]`: schema errors and semantic findings of policies, with stable
 * codes and file:line:col. Exit 0 without errors, 1 with errors, 2 for a malformed file or
 * a bad path. The work is done by `lintPolicies` and the renderers.
 */
export default class Lint extends TollgateCommand {
  static override summary = 'Check policies for schema errors and for risky, dead or bypassable rules.';

  static override description = `Reads each policy (policies/<server>/policy.json|yaml) and the catalog.json beside it, then each test file (*.test.json) against the policy it tests and that catalog, and reports every finding with a stable code (TGxxx) and file:line:col.

PATHS may be a policy repository, a policies/ directory, a policies/<server>/ directory, or policy files; the default is policies/.

Exit status: 0 no errors (warnings allowed), 1 errors found, 2 a file is malformed or a path is missing.`;

  static override usage = 'lint [PATHS...] [--format pretty|json|github|sarif] [--out <file>] [--json]';

  static override examples = [
    '<%= config.bin %> lint',
    '<%= config.bin %> lint policies/ccxt',
    '<%= config.bin %> lint --format github',
    '<%= config.bin %> lint --format sarif --out tollgate.sarif',
  ];

  static override strict = false;

  static override args = {
    paths: Args.string({ description: 'policy repositories, policies/<server>/ directories or policy files (default: policies/)' }),
  };

  static override flags = {
    format: Flags.option({
      char: 'f',
      options: LINT_FORMATS,
      default: 'pretty' as const,
      description: 'pretty (people), json (the result document), github (workflow annotations), sarif (code scanning)',
    })(),
    out: Flags.string({ char: 'o', aliases: ['output'], helpValue: '<file>', description: 'write the report to this file instead of stdout (stdout then gets the summary line)' }),
  };

  public async run(): Promise<LintResult> {
    const { argv, flags } = await this.parse(Lint);
    const cwd = process.cwd();
    const { lintPolicies, lintExitCode } = await import('../lint-runner.js');
    const result = await lintPolicies(argv as string[], { cwd });
    const { renderLintReport } = await import('../render/lint-report-renderer.js');
    const { emitReport, writeReportFile } = await import('../report-output.js');
    if (this.jsonEnabled()) {
      if (flags.out !== undefined) await writeReportFile(flags.out, JSON.stringify(result, null, 2), cwd);
    } else {
      const { findSourceRoot } = await import('../render/source-root.js');
      const { shouldColour } = await import('../render/terminal-style.js');
      const colour = flags.out === undefined && shouldColour(process.stdout);
      await emitReport(renderLintReport(result, flags.format, { colour, cwd, root: findSourceRoot(cwd), version: this.config.version }), flags.out, cwd);
    }
    process.exitCode = lintExitCode(result);
    return result;
  }
}
