import { Command, Errors } from '@oclif/core';
import { CliError, ExitCode } from './cli-error.js';

/** How a failed command reports itself: a stable code, the message, a fix, and the exit status. */
export interface CommandFailure {
  readonly code: string;
  readonly message: string;
  readonly hint: string | undefined;
  readonly exit: number;
}

/**
 * Classifies anything a command threw. A {@link CliError} keeps its code, hint and exit;
 * oclif's flag and argument errors are usage errors (exit 2, code `usage`); a package's
 * coded error (e.g. `PolicyError`) keeps its code; anything else is `internal` (exit 2).
 */
export function commandFailure(error: unknown): CommandFailure {
  if (error instanceof CliError) {
    const message = error.hint && error.message.endsWith(`\n${error.hint}`) ? error.message.slice(0, -(error.hint.length + 1)) : error.message;
    return { code: error.code, message, hint: error.hint, exit: error.exit };
  }
  const err = error instanceof Error ? error : new Error(String(error));
  const usageHint = 'Run the command with --help to see its flags and arguments.';
  // A flag's own parser failed (e.g. --threshold abc): oclif rethrows it as "Parsing --flag \n\t<why>".
  const flagParse = /^Parsing --([\w-]+)\s*\n\t([\s\S]*?)(?:\nSee more help with --help)?$/.exec(err.message);
  if (flagParse) return { code: 'usage', message: `--${flagParse[1]}: ${flagParse[2]}`, hint: usageHint, exit: ExitCode.input };
  // oclif's own parse errors (unknown flag, bad option, missing argument, unknown command).
  if (err instanceof Errors.CLIError) {
    return { code: 'usage', message: err.message.replace(/\nSee more help with --help$/, ''), hint: usageHint, exit: ExitCode.input };
  }
  const code = (err as { code?: unknown }).code;
  return { code: typeof code === 'string' ? code : 'internal', message: err.message || String(error), hint: undefined, exit: ExitCode.input };
}

/**
 * The base of every `tollgate` command. It adds `--json` (oclif prints the value `run()`
 * returns) and one error policy: a thrown error prints `Error: <message>` and its hint to
 * stderr (or `{ "error": { code, message, hint, exit } }` to stdout with `--json`) and the
 * process exits with the error's status — {@link CliError}'s `exit`, 2 for flag and
 * argument errors and for unexpected errors. Commands that end with findings set
 * `process.exitCode` and return their result instead of throwing.
 *
 * @example
 * export default class Lint extends TollgateCommand {
 *   async run(): Promise<LintResult> { ... }
 * }
 */
export abstract class TollgateCommand extends Command {
  public static override enableJsonFlag = true;

  protected override async catch(error: Error & { exitCode?: number }): Promise<never> {
    // `this.exit(n)` throws ExitError: it already carries its status and says nothing.
    if (error instanceof Errors.ExitError) throw error;
    const failure = commandFailure(error);
    process.exitCode = failure.exit;
    if (this.jsonEnabled()) {
      this.logJson({ error: { code: failure.code, message: failure.message, hint: failure.hint ?? null, exit: failure.exit } });
    } else {
      process.stderr.write(`Error: ${failure.message}\n${failure.hint ? `Hint: ${failure.hint}\n` : ''}`);
      if (failure.code === 'internal' && process.env['DEBUG'] && error.stack) process.stderr.write(`${error.stack}\n`);
    }
    throw new Errors.ExitError(failure.exit);
  }
}
