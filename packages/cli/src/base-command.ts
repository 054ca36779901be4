import { Command, Errors, toConfiguredId } from '@oclif/core';
import { CliError, ExitCode } from './cli-error.js';

/** How a failed command reports itself: a stable code, the message, a fix, and the exit status. */
export interface CommandFailure {
  readonly code: string;
  readonly message: string;
  readonly hint: string | undefined;
  readonly exit: number;
}

/** What {@link commandFailure} knows of the command that failed, to word usage errors. */
export interface FailedCommand {
  /** How the command is typed, e.g. `tollgate bundle sign`. */
  readonly name: string;
  /** The names of its flags (without `--`), for "did you mean". */
  readonly flags: readonly string[];
  /**
   * Finds the name meant among candidates (`closestName` of @tollgate/policy, loaded only when
   * a command failed, to keep it off the start-up path).
   */
  readonly closest?: (input: string, candidates: readonly string[]) => string | undefined;
}

// oclif colours parts of its messages; ours are plain (the renderer colours what it colours).
const stripAnsi = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, '');

/** oclif's parse errors, worded as ours: what was wrong, in one line, without its banner. */
function usageMessage(error: Errors.CLIError, command: FailedCommand | undefined): string | undefined {
  const message = stripAnsi(error.message).replace(/\nSee more help with --help$/, '');
  const args = (error as { args?: unknown }).args;
  const flags = (error as { flags?: unknown }).flags;
  // RequiredArgsError: its args are the missing argument definitions.
  if (/^Missing \d+ required arg/.test(message) && Array.isArray(args)) {
    const named = (args as Array<{ name?: string; description?: string }>).map((a) => `${(a.name ?? 'argument').toUpperCase()}${a.description ? ` (${a.description})` : ''}`);
    return `missing the argument${named.length === 1 ? '' : 's'} ${named.join(', ')}`;
  }
  // UnexpectedArgsError: its args are the extra words.
  if (/^Unexpected argument/.test(message) && Array.isArray(args)) {
    return `unexpected argument${args.length === 1 ? '' : 's'}: ${(args as string[]).join(' ')}${command ? ` (${command.name} does not take ${args.length === 1 ? 'it' : 'them'})` : ''}`;
  }
  // NonExistentFlagsError: its flags are the unknown ones as typed.
  if (/^Nonexistent flag/.test(message) && Array.isArray(flags)) {
    const known = command ? [...command.flags, 'help'].map((f) => `--${f}`) : [];
    return (flags as string[])
      .map((flag) => {
        const name = flag.split('=')[0]!;
        const suggestion = command?.closest?.(name, known);
        return `unknown flag ${name}${suggestion ? `; did you mean ${suggestion}?` : ''}`;
      })
      .join('; ');
  }
  // FailedFlagValidationError / ViolatedFlagConstraintError: "The following error occurred:" and the reasons.
  const validation = /^The following errors? occurred:\n([\s\S]*)$/.exec(message);
  if (validation) {
    return validation[1]!
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .map((line) => line.replace(/^Missing required flag (\S+)$/, (_m, flag: string) => `missing the required flag --${flag.replace(/^--/, '')}`))
      .join('; ');
  }
  // FlagInvalidOptionError: "Expected --format=xml to be one of: a, b".
  const option = /^Expected --([\w-]+)=([\s\S]*) to be one of: (.*)$/.exec(message);
  if (option) {
    const allowed = option[3]!.split(', ');
    const suggestion = command?.closest?.(option[2]!, allowed);
    return `--${option[1]}: "${option[2]}" is not one of ${allowed.join(', ')}${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
  }
  return undefined;
}

/**
 * Classifies anything a command threw. A {@link CliError} keeps its code, hint and exit;
 * oclif's flag and argument errors are usage errors (exit 2, code `usage`) worded as ours —
 * `missing the argument FILE (the bundle file)`, `unknown flag --formt; did you mean
 * --format?` — with a hint naming the command's --help; a package's coded error (e.g.
 * `PolicyError`) keeps its code; anything else is `internal` (exit 2).
 */
export function commandFailure(error: unknown, command?: FailedCommand): CommandFailure {
  if (error instanceof CliError) {
    const message = error.hint && error.message.endsWith(`\n${error.hint}`) ? error.message.slice(0, -(error.hint.length + 1)) : error.message;
    return { code: error.code, message, hint: error.hint, exit: error.exit };
  }
  const err = error instanceof Error ? error : new Error(String(error));
  const usageHint = command ? `Run \`${command.name} --help\` for its arguments and flags.` : 'Run the command with --help to see its flags and arguments.';
  // A flag's own parser failed (e.g. --threshold abc): oclif rethrows it as "Parsing --flag \n\t<why>".
  const flagParse = /^Parsing --([\w-]+)\s*\n\t([\s\S]*?)(?:\nSee more help with --help)?$/.exec(stripAnsi(err.message));
  if (flagParse) return { code: 'usage', message: `--${flagParse[1]}: ${flagParse[2]}`, hint: usageHint, exit: ExitCode.input };
  // oclif's own parse errors (unknown flag, bad option, missing argument, unknown command).
  if (err instanceof Errors.CLIError) {
    const message = usageMessage(err, command) ?? stripAnsi(err.message).replace(/\nSee more help with --help$/, '').replace(/\n+/g, ': ');
    return { code: 'usage', message, hint: usageHint, exit: ExitCode.input };
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
    const { closestName } = await import('@tollgate/policy');
    const failure = commandFailure(error, { name: `${this.config.bin} ${toConfiguredId(this.id ?? '', this.config)}`.trim(), flags: Object.keys(this.ctor.flags ?? {}), closest: closestName });
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
