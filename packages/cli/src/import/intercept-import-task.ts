import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { ImportDifference, ImportedRule, ImportNote, RuleTarget } from '@tollgate/policy';
import { formatDiagnostic, importInterceptPolicy } from '@tollgate/policy';
import { writeFileAtomically } from '@tollgate/ledger/atomic-file-writer';
import { CliError, ExitCode } from '../cli-error.js';
import { DEFAULT_POLICY_PATH, displayPath, POLICY_FILE_NAMES } from '../policy-files.js';
import { checkServerName } from '../scaffold/server-target.js';

/** Options of {@link importInterceptFiles}. */
export interface InterceptImportOptions {
  /** The directory relative paths are resolved against and reported from (default `process.cwd()`). */
  readonly cwd?: string;
  /**
   * For one file: the policy file to write (default `policies/<server>/policy.json`). For a
   * directory: the policies directory to write `<server>/policy.json` files into (default `policies`).
   */
  readonly out?: string;
  /** The server name for one file (default: from the file name). Not allowed with a directory. */
  readonly server?: string;
  /** Replace existing policy files. */
  readonly force?: boolean;
}

/** One imported Intercept file: where it went and the report on it. */
export interface ImportedPolicyFile {
  /** The Intercept file, relative to the working directory. */
  readonly source: string;
  readonly server: string;
  /** The Tollgate policy written, relative to the working directory. */
  readonly out: string;
  /** True when nothing differs (no differences). */
  readonly exact: boolean;
  readonly rules: readonly ImportedRule[];
  readonly posture: readonly RuleTarget[];
  readonly differences: readonly ImportDifference[];
  readonly notes: readonly ImportNote[];
}

/** The result of {@link importInterceptFiles}, and the document `import intercept --json` prints. */
export interface InterceptImportReport {
  readonly files: readonly ImportedPolicyFile[];
  /** True when every file was carried over exactly. */
  readonly exact: boolean;
  /** Differences over all files. */
  readonly differences: number;
}

/** File names that say nothing about the server: the server is then the directory's name. */
const GENERIC_NAMES = new Set(['policy', 'policies', 'intercept', 'config']);

/**
 * The server an Intercept file is for: its file name without the extension
 * (`stripe.yaml` is `stripe`), or its directory's name when the file name is generic
 * (`stripe/policy.yaml`).
 */
export function serverNameOf(file: string): string {
  const stem = basename(file, extname(file));
  return GENERIC_NAMES.has(stem.toLowerCase()) ? basename(dirname(resolve(file))) : stem;
}

async function readInput(absolute: string, shown: string): Promise<string> {
  try {
    return await readFile(absolute, 'utf8');
  } catch (error) {
    throw new CliError('file.unreadable', `${shown}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Imports Intercept policies (one YAML file, or every `*.yaml|*.yml` in a directory) into
 * Tollgate policies in the canonical layout, and reports for each what every rule became and
 * each semantic difference (docs/migrating-from-intercept.md). Every input is read and checked
 * before anything is written; a malformed file or an Intercept validation error stops the
 * import with file:line:col and nothing is written. Existing policy files are kept unless `force`.
 *
 * @throws CliError exit 2: `path.not-found`, `intercept.invalid`, `intercept.none-found`,
 *   `output.exists`, `usage`, `server.name-invalid`, `output.unwritable`.
 * @example
 * const report = await importInterceptFiles('intercept/stripe.yaml', { server: 'stripe' });
 */
export async function importInterceptFiles(input: string, options: InterceptImportOptions = {}): Promise<InterceptImportReport> {
  const cwd = options.cwd ?? process.cwd();
  const absolute = resolve(cwd, input);
  const info = await stat(absolute).catch((error: unknown) => {
    throw new CliError('path.not-found', `${input}: no such file or directory`, { exit: ExitCode.input, hint: 'Pass an Intercept policy (.yaml) or a directory of them.', cause: error });
  });
  const plan: Array<{ source: string; shown: string; server: string; out: string }> = [];
  if (info.isDirectory()) {
    if (options.server !== undefined) {
      throw new CliError('usage', '--server names the server of one file; a directory is imported file by file, each named after its file', { exit: ExitCode.input });
    }
    const names = (await readdir(absolute)).filter((n) => /\.ya?ml$/i.test(n)).sort();
    if (names.length === 0) throw new CliError('intercept.none-found', `${input}: no .yaml or .yml file in this directory`, { exit: ExitCode.input });
    const root = resolve(cwd, options.out ?? DEFAULT_POLICY_PATH);
    for (const name of names) {
      const source = join(absolute, name);
      const server = checkServerName(serverNameOf(source), 'the file name');
      plan.push({ source, shown: displayPath(source, cwd), server, out: join(root, server, 'policy.json') });
    }
  } else {
    const server = checkServerName(options.server ?? serverNameOf(absolute), options.server !== undefined ? '--server' : 'the file name (use --server)');
    plan.push({ source: absolute, shown: displayPath(absolute, cwd), server, out: resolve(cwd, options.out ?? join(DEFAULT_POLICY_PATH, server, 'policy.json')) });
  }

  const imported: Array<{ out: string; text: string; file: ImportedPolicyFile }> = [];
  const problems: string[] = [];
  for (const p of plan) {
    const { result, diagnostics } = importInterceptPolicy(await readInput(p.source, p.shown), p.shown);
    if (!result) {
      problems.push(...diagnostics.map(formatDiagnostic));
      continue;
    }
    imported.push({
      out: p.out,
      text: result.text,
      file: { source: p.shown, server: p.server, out: displayPath(p.out, cwd), exact: result.exact, rules: result.rules, posture: result.posture, differences: result.differences, notes: result.notes },
    });
  }
  if (problems.length > 0) {
    throw new CliError('intercept.invalid', `the Intercept policy cannot be imported; nothing was written:\n${problems.map((l) => `  ${l}`).join('\n')}`, {
      exit: ExitCode.input,
      hint: 'Fix each error at its file:line:col (they are the errors Intercept itself reports), then import again.',
    });
  }
  for (const i of imported) {
    const dir = dirname(i.out);
    if (!options.force && (await exists(i.out))) {
      throw new CliError('output.exists', `${i.file.out}: already exists; nothing was written`, { exit: ExitCode.input, hint: 'Pass --force to replace it, or --out to write elsewhere.' });
    }
    for (const n of POLICY_FILE_NAMES) {
      if (n === basename(i.out) || !(await exists(join(dir, n)))) continue;
      throw new CliError('policy.ambiguous', `${displayPath(join(dir, n), cwd)}: a policy already sits beside ${i.file.out}; a server directory holds one policy file`, {
        exit: ExitCode.input,
        hint: `Remove ${n}, or pass --out to write elsewhere.`,
      });
    }
  }
  for (const i of imported) {
    try {
      await writeFileAtomically(i.out, i.text);
    } catch (error) {
      throw new CliError('output.unwritable', `${i.file.out}: cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
    }
  }
  const files = imported.map((i) => i.file);
  const differences = files.reduce((n, f) => n + f.differences.length, 0);
  return { files, exact: differences === 0, differences };
}

/** The exit status of `import intercept`: 1 when anything was not carried over exactly, else 0. */
export function interceptImportExitCode(report: InterceptImportReport): number {
  return report.exact ? ExitCode.ok : ExitCode.findings;
}

function targetText(t: RuleTarget): string {
  return t.rule ? `${t.kind} ${t.rule}: ${t.detail}` : `${t.kind}: ${t.detail}`;
}

/** The human-readable report of `import intercept`. */
export function renderInterceptImport(report: InterceptImportReport): string {
  const out: string[] = [];
  for (const f of report.files) {
    out.push(`Imported ${f.source} -> ${f.out} (server ${f.server})`, '', 'Rules:');
    if (f.rules.length === 0) out.push('  (none)');
    for (const r of f.rules) {
      out.push(`  ${r.at} "${r.name}" (${f.source}:${r.line}:${r.column})`);
      for (const t of r.became) out.push(`    -> ${targetText(t)}`);
    }
    out.push('Posture:');
    for (const t of f.posture) out.push(`  -> ${targetText(t)}`);
    if (f.differences.length > 0) {
      out.push(`Differences (${f.differences.length}):`);
      for (const d of f.differences) out.push(`  ${f.source}:${d.line}:${d.column} ${d.code} ${d.at}: ${d.message}`);
    }
    if (f.notes.length > 0) {
      out.push('Notes:');
      for (const n of f.notes) out.push(`  ${n.code}${n.at ? ` ${n.at}` : ''}: ${n.message}`);
    }
    out.push('');
  }
  const n = report.files.length;
  out.push(
    report.exact
      ? `${n} ${n === 1 ? 'policy' : 'policies'} imported exactly`
      : `${n} ${n === 1 ? 'policy' : 'policies'} imported with ${report.differences} semantic difference${report.differences === 1 ? '' : 's'} (see docs/migrating-from-intercept.md)`,
  );
  return `${out.join('\n')}\n`;
}
