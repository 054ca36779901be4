import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import { DIFF_FORMATS, WIDENING_LEVELS } from '../diff/diff-formats.js';
import type { DiffReport } from '../diff/diff-runner.js';

/**
 * `tollgate diff [base] [head]`: what a policy change does. Structural changes, then per tool
 * whether it became wider, narrower or both, with example calls that flip; `--replay`
 * re-decides the calls recorded in the ledger. The work is `runDiff` and the renderers.
 */
export default class Diff extends TollgateCommand {
  static override summary = 'Compare the policies at two Git refs: what changed, which tools got wider or narrower, with calls that flip.';

  static override description = `Reads policies/<server>/policy.{json,yaml,yml} and catalog.json at BASE and HEAD through Git (a branch, tag, commit, HEAD~1…; "." or WORKTREE for the files on disk) and reports, per server, the structural changes and, per tool, whether it became wider (some call is now allowed, or needs an approval where it was denied), narrower, or both — each with example calls decided under both policies. Example calls come from the boundaries of every condition, the limits and the catalog's argument schemas.

--replay re-decides the decisions recorded in the ledger (since --since) under both policies and counts the flips (allow → deny, deny → allow, → approval, approval → allow…). Calls whose arguments were redacted are counted as not replayable.

--format markdown is the pull-request comment; it starts with the line <!-- tollgate-diff --> so a workflow can keep one sticky comment.

Exit status: 0; 1 when --fail-on-widening is given and a tool at or above that risk level (from the catalog) became wider; 2 a missing ref, an invalid policy on either side, or an unreachable ledger.`;

  static override usage = 'diff [BASE] [HEAD] [--format pretty|markdown|json] [--fail-on-widening critical|high|medium|low] [--replay [--since 7d]] [--json]';

  static override examples = [
    '<%= config.bin %> diff',
    '<%= config.bin %> diff HEAD~1 HEAD',
    '<%= config.bin %> diff origin/main HEAD --format markdown --fail-on-widening critical',
    '<%= config.bin %> diff main --replay --since 7d',
  ];

  static override args = {
    base: Args.string({ description: 'the ref to compare from (default origin/main); "." or WORKTREE for the working tree' }),
    head: Args.string({ description: 'the ref to compare to (default: the working tree)' }),
  };

  static override flags = {
    format: Flags.option({ char: 'f', options: DIFF_FORMATS, default: 'pretty' as const, description: 'pretty (people), markdown (the PR comment), json (the report document)' })(),
    'fail-on-widening': Flags.option({ options: WIDENING_LEVELS, description: 'exit 1 when a tool at or above this risk level became wider (or both)' })(),
    replay: Flags.boolean({ default: false, description: 're-decide the calls recorded in the ledger under both policies and count the flips' }),
    since: Flags.string({ default: '7d', description: 'with --replay: decisions recorded since this time: a duration before now (24h, 7d) or ISO 8601', helpValue: '7d|2026-11-01' }),
    'database-url': Flags.string({ env: 'TOLLGATE_DATABASE_URL', description: 'with --replay: PostgreSQL URL of the ledger (default: the embedded ledger in --data-dir)', helpValue: 'postgres://user@host:5432/db' }),
    'data-dir': Flags.string({ default: '.tollgate/ledger', description: 'with --replay: directory of the embedded ledger', helpValue: 'dir' }),
    'replay-limit': Flags.integer({ min: 1, max: 100_000, default: 10_000, description: 'with --replay: most recorded decisions read, oldest first' }),
    policies: Flags.string({ default: 'policies', description: 'the policies directory inside the repository', helpValue: 'dir' }),
    examples: Flags.integer({ min: 1, max: 50, default: 3, description: 'most example calls shown per tool' }),
    out: Flags.string({ char: 'o', aliases: ['output'], helpValue: '<file>', description: 'write the report to this file instead of stdout (stdout then gets the summary line)' }),
  };

  public async run(): Promise<DiffReport> {
    const { args, flags } = await this.parse(Diff);
    const cwd = process.cwd();
    const { runDiff, diffExitCode } = await import('../diff/diff-runner.js');
    let replay;
    if (flags.replay) {
      const { parseLedgerTime } = await import('@tollgate/ledger');
      const { CliError, ExitCode } = await import('../cli-error.js');
      let since: Date;
      try {
        since = parseLedgerTime(flags.since, new Date());
      } catch (error) {
        throw new CliError('usage', `--since: ${(error as Error).message}`, { exit: ExitCode.input, hint: 'Give a duration before now (24h, 7d) or an ISO 8601 time.', cause: error });
      }
      replay = { since, databaseUrl: flags['database-url'], dataDir: flags['data-dir'], limit: flags['replay-limit'] };
    }
    const { progressReporter } = await import('../render/progress-reporter.js');
    const progress = progressReporter({ json: this.jsonEnabled() });
    const report = await runDiff({
      onProgress: progress.step,
      cwd,
      base: args.base,
      head: args.head,
      policies: flags.policies,
      replay,
      failOnWidening: flags['fail-on-widening'],
      maxExamples: flags.examples,
    }).finally(() => progress.stop());
    if (!this.jsonEnabled()) {
      const { emitReport } = await import('../report-output.js');
      const { diffSummaryLine, renderDiffPretty } = await import('../diff/diff-pretty-renderer.js');
      let text: string;
      if (flags.format === 'json') text = JSON.stringify(report, null, 2);
      else if (flags.format === 'markdown') text = (await import('../diff/diff-markdown-renderer.js')).renderDiffMarkdown(report);
      else {
        const { shouldColour } = await import('../render/terminal-style.js');
        text = renderDiffPretty(report, { colour: flags.out === undefined && shouldColour(process.stdout) });
      }
      await emitReport({ text, summary: diffSummaryLine(report), summaryOnStderr: false }, flags.out, cwd);
    }
    process.exitCode = diffExitCode(report);
    return report;
  }
}
