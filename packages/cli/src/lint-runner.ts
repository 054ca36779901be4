import type { Diagnostic } from '@tollgate/policy';
import { admitPolicy, sortDiagnostics } from '@tollgate/policy';
import { ExitCode } from './cli-error.js';
import { discoverPolicyFiles, readPolicyFile, type DiscoverOptions, type PolicyFileSet } from './policy-files.js';

/**
 * The stage at which a policy stopped being checked, or null when every check ran:
 * `parse` (not well-formed JSON/YAML), `schema` (not a policy, so no semantic checks).
 */
export type LintStage = 'parse' | 'schema' | null;

/** What `lint` found in one policy (and its catalog). */
export interface LintedPolicy {
  readonly server: string;
  /** The policy file, relative to the working directory. */
  readonly policy: string;
  /** The catalog it was checked against, or null when there is none beside it. */
  readonly catalog: string | null;
  /** Where checking stopped: `parse` means the policy is not well-formed (exit 2). */
  readonly failedAt: LintStage;
  /** True when the catalog beside it is not well-formed JSON (exit 2). */
  readonly catalogMalformed: boolean;
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
}

/**
 * The result of {@link lintPolicies}, and the document `lint --format json` and `lint --json`
 * print. `diagnostics` are sorted by file, line, column and code.
 */
export interface LintResult {
  readonly files: readonly LintedPolicy[];
  readonly diagnostics: readonly Diagnostic[];
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
}

/**
 * Drops repeated diagnostics (same file, place, code and message): a parser can report the
 * same problem twice at one offset, and a person should read it once.
 */
export function uniqueDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.file}\u0000${d.line}\u0000${d.column}\u0000${d.code}\u0000${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function counts(diagnostics: readonly Diagnostic[]): { errors: number; warnings: number; infos: number } {
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  for (const d of diagnostics) {
    if (d.severity === 'error') errors += 1;
    else if (d.severity === 'warning') warnings += 1;
    else infos += 1;
  }
  return { errors, warnings, infos };
}

async function lintOne(set: PolicyFileSet): Promise<{ linted: LintedPolicy; diagnostics: Diagnostic[] }> {
  const text = await readPolicyFile(set.policy);
  const catalog = set.catalog ? { text: await readPolicyFile(set.catalog), file: set.catalog.path } : undefined;
  // The policy sources' own admission: what lint reports as an error is exactly what they refuse.
  const admitted = admitPolicy({ text, file: set.policy.path, ...(catalog ? { catalog } : {}), siblings: set.siblings.map((f) => f.path) }, { server: set.server });
  const unique = uniqueDiagnostics(admitted.diagnostics);
  return {
    linted: {
      server: set.server,
      policy: set.policy.path,
      catalog: set.catalog?.path ?? null,
      failedAt: admitted.failedAt ?? null,
      catalogMalformed: admitted.catalogMalformed,
      ...counts(unique),
    },
    diagnostics: unique,
  };
}

/**
 * Lints every policy found from `paths` (see {@link discoverPolicyFiles}) with the policy
 * package's `admitPolicy` — the admission every policy source applies — each against the
 * `catalog.json` beside it when there is one: syntax, schema, compile, semantic and catalog
 * checks, TG004 for a directory with two policy files, every finding with its stable code and
 * file:line:col.
 *
 * @throws CliError exit 2 when a path is missing or unreadable.
 * @example
 * const result = await lintPolicies(['policies/']);
 * process.exitCode = lintExitCode(result);
 */
export async function lintPolicies(paths: readonly string[], options: DiscoverOptions = {}): Promise<LintResult> {
  // A directory with two policy files is a finding of its own (TG004), not a reason to stop.
  const found = await discoverPolicyFiles(paths, { ...options, conflicts: 'report' });
  const files: LintedPolicy[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const set of found.policies) {
    const one = await lintOne(set);
    files.push(one.linted);
    diagnostics.push(...one.diagnostics);
  }
  return { files, diagnostics: sortDiagnostics(diagnostics), ...counts(diagnostics) };
}

/**
 * The exit status of `lint`: 2 when a policy or catalog is not well-formed (it could not be
 * checked at all), 1 when there are errors, 0 otherwise (warnings and infos pass).
 */
export function lintExitCode(result: LintResult): number {
  if (result.files.some((f) => f.failedAt === 'parse' || f.catalogMalformed)) return ExitCode.input;
  return result.errors > 0 ? ExitCode.findings : ExitCode.ok;
}

/** The one-line summary `lint` ends with: `2 errors, 1 warning, 0 infos in 3 policies`. */
export function lintSummary(result: LintResult): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(result.errors, 'error')}, ${plural(result.warnings, 'warning')}, ${plural(result.infos, 'info')} in ${plural(result.files.length, 'policy').replace('policys', 'policies')}`;
}
