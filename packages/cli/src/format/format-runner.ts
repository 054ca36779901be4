import { stat } from 'node:fs/promises';
import type { Diagnostic } from '@tollgate/policy';
import { formatDocument, sortDiagnostics } from '@tollgate/policy';
import { writeFileAtomically } from '@tollgate/ledger/atomic-file-writer';
import { CliError, ExitCode } from '../cli-error.js';
import { discoverPolicyFiles, readPolicyFile, type DiscoverOptions, type FoundFile } from '../policy-files.js';

/**
 * What `fmt` did with one file: `unchanged` (already in the canonical layout), `formatted`
 * (rewritten), `would-change` (`--check`: not in the canonical layout, left alone),
 * `malformed` (does not parse; see the diagnostics).
 */
export type FormatStatus = 'unchanged' | 'formatted' | 'would-change' | 'malformed';

/** One file `fmt` looked at. */
export interface FormattedFileReport {
  /** The file, relative to the working directory. */
  readonly path: string;
  readonly kind: 'policy' | 'test-file';
  readonly status: FormatStatus;
}

/** The result of {@link formatPolicyFiles}, and the document `fmt --json` prints. */
export interface FormatReport {
  /** True for `--check`: nothing is written. */
  readonly check: boolean;
  /** Every policy and test file found, sorted by path. */
  readonly files: readonly FormattedFileReport[];
  /** Files not in the canonical layout (formatted, or that would be with `--check`). */
  readonly changed: number;
  /** Files that do not parse. When there is one, no file is written. */
  readonly malformed: number;
  /** Syntax errors (TG001, TG002) of the malformed files, with file:line:col. */
  readonly diagnostics: readonly Diagnostic[];
}

/** Options of {@link formatPolicyFiles}. */
export interface FormatFilesOptions extends DiscoverOptions {
  /** Only report the files that are not formatted; write nothing. */
  readonly check?: boolean;
}

async function writeFormatted(file: FoundFile, text: string): Promise<void> {
  try {
    // Keep the file's permissions: formatting is not a reason to change who may read it.
    const mode = (await stat(file.absolutePath)).mode & 0o777;
    await writeFileAtomically(file.absolutePath, text, { mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError('output.unwritable', `${file.path}: cannot be written (${code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
  }
}

/**
 * Brings every policy and test file found from `paths` (as `lint` and `test` find them, see
 * `discoverPolicyFiles`) into the canonical layout of `@tollgate/policy`'s `formatDocument`.
 * All files are read and formatted first; if any does not parse, none is written. Each
 * changed file is then replaced atomically (temporary file, rename), keeping its mode.
 * With `check`, nothing is written and the report says which files would change.
 *
 * @throws CliError exit 2 when a path is missing or unreadable, or a file cannot be written.
 * @example
 * const report = await formatPolicyFiles(['policies'], { check: true });
 * process.exitCode = formatExitCode(report);
 */
export async function formatPolicyFiles(paths: readonly string[], options: FormatFilesOptions = {}): Promise<FormatReport> {
  const found = await discoverPolicyFiles(paths, options);
  const files = [...found.policies.map((p) => p.policy), ...found.tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const check = options.check ?? false;
  const results: Array<{ file: FoundFile; kind: 'policy' | 'test-file'; text: string | undefined; changed: boolean }> = [];
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    const source = await readPolicyFile(file);
    const result = formatDocument(source, file.path);
    diagnostics.push(...result.diagnostics);
    results.push({ file, kind: result.kind, text: result.text, changed: result.changed });
  }
  const malformed = results.filter((r) => r.text === undefined).length;
  const write = !check && malformed === 0;
  if (write) for (const r of results) if (r.changed) await writeFormatted(r.file, r.text!);
  const status = (r: (typeof results)[number]): FormatStatus => {
    if (r.text === undefined) return 'malformed';
    if (!r.changed) return 'unchanged';
    return write ? 'formatted' : 'would-change';
  };
  return {
    check,
    files: results.map((r) => ({ path: r.file.path, kind: r.kind, status: status(r) })),
    changed: results.filter((r) => r.changed).length,
    malformed,
    diagnostics: sortDiagnostics(diagnostics),
  };
}

/** The exit status of `fmt`: 2 when a file does not parse, 1 when `--check` found unformatted files, else 0. */
export function formatExitCode(report: FormatReport): number {
  if (report.malformed > 0) return ExitCode.input;
  return report.check && report.changed > 0 ? ExitCode.findings : ExitCode.ok;
}

/** The one line `fmt` ends with, e.g. `2 of 9 files reformatted` or `1 of 9 files would be reformatted`. */
export function formatSummary(report: FormatReport): string {
  const n = report.files.length;
  const files = `${n} file${n === 1 ? '' : 's'}`;
  if (report.malformed > 0) {
    return `${report.malformed} of ${files} could not be parsed; nothing was written`;
  }
  return `${report.changed} of ${files} ${report.check ? 'would be reformatted' : 'reformatted'}`;
}

/** The human-readable report of `fmt`: one line per file that changed or is malformed, diagnostics, the summary. */
export function renderFormatReport(report: FormatReport): string {
  const lines: string[] = [];
  for (const f of report.files) {
    if (f.status === 'formatted') lines.push(`formatted ${f.path}`);
    else if (f.status === 'would-change') lines.push(`would reformat ${f.path}`);
  }
  for (const d of report.diagnostics) lines.push(`${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code} ${d.message}`);
  lines.push(formatSummary(report));
  return `${lines.join('\n')}\n`;
}
