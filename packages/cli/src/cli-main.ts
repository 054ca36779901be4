import { Errors, flush, run, settings } from '@oclif/core';
import { commandFailure } from './base-command.js';
import { ExitCode } from './cli-error.js';

/**
 * Runs `tollgate` with the process's arguments: oclif finds the commands from the package
 * root above `dir` (the entry point module's own URL), runs the one named, and flushes
 * its output. Both entry points use it: `bin/run.js` in the repository (commands from
 * `dist/commands`) and `bin/tollgate.js` of the standalone build (commands from its bundle).
 *
 * An error that reaches this far — one oclif raises before a command runs, such as an
 * unreadable manifest — is printed the way every command prints its own (`Error: …`,
 * `Hint: …`, or `{ "error": … }` on stdout with `--json`), never as oclif's raw text or a stack trace (set DEBUG=tollgate for the stack),
 * and exits 2. A command's own failures were already printed by `TollgateCommand.catch`.
 *
 * @example
 * // bin/run.js passes its own module URL:
 * await runTollgate(entryUrl);
 */
export async function runTollgate(dir: string): Promise<void> {
  // Always the compiled commands: oclif would otherwise try to load src/*.ts through a
  // TypeScript loader whenever NODE_ENV is "development" or "test".
  settings.enableAutoTranspile = false;
  try {
    await run(process.argv.slice(2), dir);
    await flush();
  } catch (error) {
    await flush().catch(() => undefined);
    let exit: number;
    if (error instanceof Errors.ExitError) {
      exit = error.oclif.exit ?? ExitCode.input;
    } else {
      const failure = commandFailure(error);
      if (process.argv.includes('--json')) {
        process.stdout.write(`${JSON.stringify({ error: { code: failure.code, message: failure.message, hint: failure.hint ?? null, exit: failure.exit } }, null, 2)}\n`);
      } else {
        process.stderr.write(`Error: ${failure.message}\n${failure.hint ? `Hint: ${failure.hint}\n` : ''}`);
      }
      if (process.env['DEBUG'] && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      exit = failure.exit;
    }
    // As oclif's own handler does: a failed command may leave handles open (a pool, a worker).
    process.exit(exit);
  }
}
