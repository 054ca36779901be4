import { resolve } from 'node:path';
import { writeFileAtomically } from '@tollgate/ledger/atomic-file-writer';
import { CliError, ExitCode } from './cli-error.js';
import type { RenderedReport } from './report-formats.js';

/**
 * Writes a report to `file` whole or not at all: to a temporary name beside it, then
 * renamed over it, so a reader (a CI upload step, an editor) never sees half a report.
 * Missing parent directories are created.
 *
 * @throws CliError exit 2 `output.unwritable` naming the file.
 */
export async function writeReportFile(file: string, text: string, cwd: string = process.cwd()): Promise<void> {
  try {
    await writeFileAtomically(resolve(cwd, file), text.endsWith('\n') ? text : `${text}\n`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError('output.unwritable', `${file}: cannot write the report (${code ?? (error as Error).message})`, {
      exit: ExitCode.input,
      hint: 'Check that the path names a file in a writable directory.',
      cause: error,
    });
  }
}

/** Writes text to standard output, ending with a newline. */
export function writeStdout(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Writes text to standard error, ending with a newline. */
export function writeStderr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * Prints a rendered report the way `lint` and `test` do: with `output`, the report is written
 * to that file (atomically) and the summary line to stdout; without it, the report goes to
 * stdout and, when the format cannot end with it (JUnit), the summary line to stderr.
 */
export async function emitReport(report: RenderedReport, output: string | undefined, cwd: string = process.cwd()): Promise<void> {
  if (output !== undefined) {
    await writeReportFile(output, report.text, cwd);
    writeStdout(report.summary);
    return;
  }
  writeStdout(report.text);
  if (report.summaryOnStderr) writeStderr(report.summary);
}
