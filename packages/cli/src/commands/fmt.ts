import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import type { FormatReport } from '../format/format-runner.js';

/**
 * `tollgate fmt [paths…] [--check]`: rewrites policies and test files in the canonical
 * layout. Exit 0 done (or nothing to do), 1 `--check` found files to reformat, 2 a file does
 * not parse (nothing is written) or a bad path. The work is `formatPolicyFiles`.
 */
export default class Fmt extends TollgateCommand {
  static override summary = 'Rewrite policies and test files in the canonical layout.';

  static override description = `Formats every policy (policies/<server>/policy.json|yaml) and test file (*.test.json|yaml) found from PATHS, as lint and test find them (default: policies/): keys in the schema's reading order, tools and lists in their written order, two-space indentation, one condition, limit, call or expectation a line when it fits in 120 columns, a trailing newline. JSON stays JSON, YAML stays YAML (with its comments). The formatted document always means exactly what the original meant.

--check writes nothing and lists the files that would change (for CI).

Files are replaced atomically. If any file does not parse, its errors are printed with file:line:col and no file is written.

Exit status: 0 formatted (or already formatted), 1 --check found files that would change, 2 a file does not parse or a path is missing.`;

  static override usage = 'fmt [PATHS...] [--check] [--json]';

  static override examples = ['<%= config.bin %> fmt', '<%= config.bin %> fmt policies/ccxt', '<%= config.bin %> fmt --check'];

  static override strict = false;

  static override args = {
    paths: Args.string({ description: 'policy repositories, policies/<server>/ directories, policy or test files (default: policies/)' }),
  };

  static override flags = {
    check: Flags.boolean({ default: false, description: 'write nothing; list the files that are not formatted and exit 1 if there are any' }),
  };

  public async run(): Promise<FormatReport> {
    const { argv, flags } = await this.parse(Fmt);
    const { formatExitCode, formatPolicyFiles, renderFormatReport } = await import('../format/format-runner.js');
    const report = await formatPolicyFiles(argv as string[], { cwd: process.cwd(), check: flags.check });
    if (!this.jsonEnabled()) process.stdout.write(renderFormatReport(report));
    process.exitCode = formatExitCode(report);
    return report;
  }
}
