import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import { TEST_FORMATS } from '../report-formats.js';
import type { TestSuiteResult } from '../test-suite.js';

const threshold = Flags.custom<number>({
  description: 'fail (exit 1) when the rule coverage of any policy is below this percentage (0-100)',
  helpValue: '<pct>',
  parse: async (input: string) => {
    const value = Number(input.replace(/%$/, ''));
    if (input.trim() === '' || !Number.isFinite(value) || value < 0 || value > 100) {
      throw new Error(`expected a percentage from 0 to 100, got "${input}"`);
    }
    return value;
  },
});

/**
 * `tollgate test [paths…]`: runs policy test files, prints each case, coverage and the
 * summary line `N passed, M failed`. Exit 0 all pass (and coverage reaches `--threshold`),
 * 1 failures or coverage below the threshold, 2 invalid test or policy files. The work is
 * done by `runTestSuite`, `watchTestSuite` and the renderers.
 */
export default class Test extends TollgateCommand {
  static override summary = 'Run policy tests (*.test.json), with rule coverage.';

  static override description = `Runs every *.test.json (or *.test.yaml) file against the policy it names ("policy", default the policy beside it). Each case's calls are decided by the compiled policy with a fixed clock and fresh limit state; a sequence shares both.

PATHS may be a policy repository, a policies/ directory, a policies/<server>/ directory, or test and policy files; the default is policies/. --run <pattern> runs only the cases whose name matches. Output ends with the line "N passed, M failed" (in --format json it is the "summary" field; --format github prints an annotation for each failing case first; with --format junit it goes to stderr, or to stdout with --out).

Exit status: 0 all cases pass (and coverage reaches --threshold), 1 a case failed or coverage is below the threshold, 2 a test or policy file is invalid or a path is missing.`;

  static override usage = 'test [PATHS...] [--format pretty|json|junit|github] [--run <pattern>] [--out <file>] [--coverage] [--threshold <pct>] [--watch] [--json]';

  static override examples = [
    '<%= config.bin %> test',
    '<%= config.bin %> test policies/ccxt --coverage',
    '<%= config.bin %> test --coverage --threshold 100',
    '<%= config.bin %> test --format junit --out test-results/tollgate.xml',
    '<%= config.bin %> test --watch',
    '<%= config.bin %> test --run "refund"',
    '<%= config.bin %> test --format github',
  ];

  static override strict = false;

  static override args = {
    paths: Args.string({ description: 'policy repositories, policies/<server>/ directories, test or policy files (default: policies/)' }),
  };

  static override flags = {
    format: Flags.option({
      char: 'f',
      options: TEST_FORMATS,
      default: 'pretty' as const,
      description: 'pretty (people), json (the result document), junit (JUnit XML for CI test reports), github (workflow annotations on failing cases)',
    })(),
    out: Flags.string({ char: 'o', aliases: ['output'], helpValue: '<file>', description: 'write the report to this file instead of stdout (stdout then gets the summary line)' }),
    coverage: Flags.boolean({ char: 'c', default: false, description: 'show which rules the tests hit, per policy and tool, and the uncovered rule ids' }),
    threshold: threshold(),
    watch: Flags.boolean({ char: 'w', default: false, description: 're-run when a policy, catalog or test file changes; stop with Ctrl-C' }),
    run: Flags.custom<RegExp>({
      char: 'r',
      helpValue: '<pattern>',
      description: 'run only the cases whose name matches this regular expression (JavaScript syntax, case-sensitive)',
      parse: async (input: string) => {
        try {
          return new RegExp(input, 'u');
        } catch (error) {
          throw new Error(`"${input}" is not a regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`);
        }
      },
    })(),
  };

  public async run(): Promise<TestSuiteResult | undefined> {
    const { argv, flags } = await this.parse(Test);
    const paths = argv as string[];
    const cwd = process.cwd();
    const json = this.jsonEnabled();
    const format = json ? 'json' : flags.format;
    const { runTestSuite, testExitCode } = await import('../test-suite.js');
    const { renderTestReport } = await import('../render/test-report-renderer.js');
    const { shouldColour } = await import('../render/terminal-style.js');
    const { emitReport, writeReportFile, writeStderr, writeStdout } = await import('../report-output.js');
    const { findSourceRoot } = await import('../render/source-root.js');
    const context = { colour: flags.out === undefined && shouldColour(process.stdout), coverage: flags.coverage, cwd, root: findSourceRoot(cwd) };
    const options = { cwd, ...(flags.threshold !== undefined ? { threshold: flags.threshold } : {}), ...(flags.run !== undefined ? { only: flags.run } : {}) };

    if (!flags.watch) {
      const result = await runTestSuite(paths, options);
      if (flags.run !== undefined && result.files.length === 0 && result.diagnostics.length === 0) {
        const { CliError, ExitCode } = await import('../cli-error.js');
        throw new CliError('test.no_match', `no test case's name matches --run ${JSON.stringify(flags.run.source)}`, {
          exit: ExitCode.input,
          hint: 'Check the pattern against the case names (tollgate test lists them); it is a regular expression, case-sensitive.',
        });
      }
      // With --json oclif prints the returned result; --out gets the same document.
      if (!json) await emitReport(renderTestReport(result, format, context), flags.out, cwd);
      else if (flags.out !== undefined) await writeReportFile(flags.out, renderTestReport(result, 'json', context).text, cwd);
      process.exitCode = testExitCode(result);
      return result;
    }

    const { watchTestSuite } = await import('../test-suite-watcher.js');
    const { commandFailure } = await import('../base-command.js');
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let exit = 0;
    try {
      await watchTestSuite(paths, {
        ...options,
        signal: stop.signal,
        onRun: async ({ iteration, result, error }) => {
          if (iteration > 1) {
            const separator = `\n──── run ${iteration} · ${new Date().toISOString()} · files changed ────\n`;
            if (format === 'pretty' && flags.out === undefined) writeStdout(separator);
            else writeStderr(separator);
          }
          if (result) {
            await emitReport(renderTestReport(result, format, context), flags.out, cwd).catch((e: unknown) => writeStderr(`Error: ${commandFailure(e).message}`));
            exit = testExitCode(result);
          } else {
            const failure = commandFailure(error);
            writeStderr(`Error: ${failure.message}${failure.hint ? `\nHint: ${failure.hint}` : ''}`);
            exit = failure.exit;
          }
          writeStderr('Watching for changes; press Ctrl-C to stop.');
        },
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    process.exitCode = exit;
    return undefined;
  }
}
