import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Catalog, CompiledPolicy, Diagnostic } from '@tollgate/policy';
import { admitPolicy, ArgumentValidator, lintTestFile, loadPolicy, parseCatalog, parseTestFile, sortDiagnostics, uniqueDiagnostics } from '@tollgate/policy';
import { ExitCode } from './cli-error.js';
import {
  CATALOG_FILE_NAME,
  discoverPolicyFiles,
  foundFile,
  readPolicyFile,
  resolveTestPolicy,
  type DiscoverOptions,
  type FoundFile,
  type PolicyFileSet,
} from './policy-files.js';

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

/** What `lint` found in one test file (`*.test.json`), checked against its policy and that policy's catalog. */
export interface LintedTestFile {
  /** The test file, relative to the working directory. */
  readonly file: string;
  /** The policy its cases were checked against, or null when it names none that exists. */
  readonly policy: string | null;
  /** The catalog beside that policy, or null when there is none (the catalog checks were skipped). */
  readonly catalog: string | null;
  /** Where checking stopped: `parse` means the test file is not well-formed (exit 2), `schema` that it is not a test file. */
  readonly failedAt: LintStage;
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
}

/**
 * The result of {@link lintPolicies}, and the document `lint --format json` and `lint --json`
 * print. `diagnostics` (of policies, catalogs and test files) are sorted by file, line, column and code.
 */
export interface LintResult {
  readonly files: readonly LintedPolicy[];
  /** The test files found beside the policies (or named), each checked against its policy. */
  readonly tests: readonly LintedTestFile[];
  readonly diagnostics: readonly Diagnostic[];
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
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

/** A policy as test files are checked against it: compiled as `tollgate test` runs it, with its catalog. */
interface TestedPolicy {
  readonly file: FoundFile;
  /** Undefined when the policy does not compile (or cannot be read: see `unreadable`). */
  readonly policy: CompiledPolicy | undefined;
  readonly unreadable: boolean;
  /** The catalog beside it, when there is one and it is valid. */
  readonly catalog: Catalog | undefined;
  readonly catalogFile: string | undefined;
}

/** The policies test files are checked against, by absolute path; each compiled on first use, once. */
type TestedPolicies = Map<string, () => TestedPolicy>;

function once(make: () => TestedPolicy): () => TestedPolicy {
  let made: TestedPolicy | undefined;
  return () => (made ??= make());
}

function testedPolicy(file: FoundFile, text: string, catalog: { text: string; file: string } | undefined): TestedPolicy {
  const loaded = loadPolicy(text, file.path, { server: basename(dirname(file.absolutePath)) });
  const parsed = catalog ? parseCatalog(catalog.text, catalog.file) : undefined;
  return { file, policy: loaded.policy, unreadable: false, catalog: parsed?.catalog, catalogFile: parsed?.catalog ? catalog!.file : undefined };
}

async function lintOne(set: PolicyFileSet, tested: TestedPolicies): Promise<{ linted: LintedPolicy; diagnostics: Diagnostic[] }> {
  const text = await readPolicyFile(set.policy);
  const catalog = set.catalog ? { text: await readPolicyFile(set.catalog), file: set.catalog.path } : undefined;
  tested.set(set.policy.absolutePath, once(() => testedPolicy(set.policy, text, catalog)));
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

/** The policy a test file names (or the one beside it), read and compiled once per run. */
async function testedPolicyAt(absolutePath: string, cwd: string, tested: TestedPolicies): Promise<TestedPolicy> {
  const known = tested.get(absolutePath);
  if (known) return known();
  const file = foundFile(absolutePath, cwd);
  let entry: TestedPolicy;
  try {
    const text = await readPolicyFile(file);
    const catalogPath = join(dirname(absolutePath), CATALOG_FILE_NAME);
    const hasCatalog = await stat(catalogPath).then((s) => s.isFile(), () => false);
    const catalogFile = foundFile(catalogPath, cwd);
    entry = testedPolicy(file, text, hasCatalog ? { text: await readPolicyFile(catalogFile), file: catalogFile.path } : undefined);
  } catch {
    entry = { file, policy: undefined, unreadable: true, catalog: undefined, catalogFile: undefined };
  }
  tested.set(absolutePath, () => entry);
  return entry;
}

function testPolicyProblem(testFile: FoundFile, at: { line: number; column: number; named: boolean }, message: string, hint?: string): Diagnostic {
  return { code: 'TG300', severity: 'error', file: testFile.path, line: at.line, column: at.column, message, ...(at.named ? { pointer: '/policy' } : {}), ...(hint ? { hint } : {}) };
}

async function lintTest(testFile: FoundFile, cwd: string, tested: TestedPolicies, validator: ArgumentValidator): Promise<{ linted: LintedTestFile; diagnostics: Diagnostic[] }> {
  const parsed = parseTestFile(await readPolicyFile(testFile), testFile.path);
  const done = (diagnostics: readonly Diagnostic[], policy: TestedPolicy | undefined, failedAt: LintStage): { linted: LintedTestFile; diagnostics: Diagnostic[] } => {
    const unique = uniqueDiagnostics(diagnostics);
    return {
      linted: { file: testFile.path, policy: policy?.file.path ?? null, catalog: policy?.catalogFile ?? null, failedAt, ...counts(unique) },
      diagnostics: unique,
    };
  };
  if (!parsed.tests || !parsed.document) return done(parsed.diagnostics, undefined, parsed.document ? 'schema' : 'parse');
  // At the "policy" the file names, else at its start.
  const at = { ...parsed.document.positionOf('/policy'), named: parsed.tests.policy !== undefined };
  const policyPath = await resolveTestPolicy(testFile, parsed.tests.policy);
  if (policyPath === undefined) {
    return done([testPolicyProblem(testFile, at, 'no policy to test: the file names none and there is no policy.json, policy.yaml or policy.yml beside it', 'add "policy": "<path to the policy, relative to this file>"')], undefined, null);
  }
  const policy = await testedPolicyAt(policyPath, cwd, tested);
  if (policy.unreadable) return done([testPolicyProblem(testFile, at, `its policy ${policy.file.path} cannot be read`, 'check the "policy" path; it is relative to the test file')], undefined, null);
  if (!policy.policy) return done([testPolicyProblem(testFile, at, `its policy ${policy.file.path} has errors, so its cases were not checked (see the policy's findings)`)], policy, null);
  const diagnostics = lintTestFile(parsed.tests, parsed.document, {
    policy: policy.policy,
    policyFile: policy.file.path,
    validator,
    ...(policy.catalog && policy.catalogFile ? { catalog: policy.catalog, catalogFile: policy.catalogFile } : {}),
  });
  return done(diagnostics, policy, null);
}

/**
 * Lints every policy found from `paths` (see {@link discoverPolicyFiles}) with the policy
 * package's `admitPolicy` — the admission every policy source applies — each against the
 * `catalog.json` beside it when there is one: syntax, schema, compile, semantic and catalog
 * checks, TG004 for a directory with two policy files, every finding with its stable code and
 * file:line:col. Then every test file found is checked with `lintTestFile` against the policy
 * it tests (the one `tollgate test` runs it against) and that policy's catalog: its syntax and
 * schema, TG300 when its policy is missing or broken, and TG301–TG304.
 *
 * @throws CliError exit 2 when a path is missing or unreadable.
 * @example
 * const result = await lintPolicies(['policies/']);
 * process.exitCode = lintExitCode(result);
 */
export async function lintPolicies(paths: readonly string[], options: DiscoverOptions = {}): Promise<LintResult> {
  // A directory with two policy files is a finding of its own (TG004), not a reason to stop.
  const found = await discoverPolicyFiles(paths, { ...options, conflicts: 'report' });
  const cwd = options.cwd ?? process.cwd();
  const files: LintedPolicy[] = [];
  const tests: LintedTestFile[] = [];
  const diagnostics: Diagnostic[] = [];
  const tested: TestedPolicies = new Map();
  for (const set of found.policies) {
    const one = await lintOne(set, tested);
    files.push(one.linted);
    diagnostics.push(...one.diagnostics);
  }
  // The gateway's own argument validator, shared so each input schema is compiled once.
  const validator = new ArgumentValidator();
  for (const testFile of found.tests) {
    const one = await lintTest(testFile, cwd, tested, validator);
    tests.push(one.linted);
    diagnostics.push(...one.diagnostics);
  }
  return { files, tests, diagnostics: sortDiagnostics(diagnostics), ...counts(diagnostics) };
}

/**
 * The exit status of `lint`: 2 when a policy, catalog or test file is not well-formed (it could
 * not be checked at all), 1 when there are errors, 0 otherwise (warnings and infos pass).
 */
export function lintExitCode(result: LintResult): number {
  if (result.files.some((f) => f.failedAt === 'parse' || f.catalogMalformed) || result.tests.some((t) => t.failedAt === 'parse')) return ExitCode.input;
  return result.errors > 0 ? ExitCode.findings : ExitCode.ok;
}

/**
 * The one-line summary `lint` ends with: `2 errors, 1 warning, 0 infos in 3 policies`, and
 * `… in 2 policies and 5 test files` when test files were checked.
 */
export function lintSummary(result: LintResult): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const tests = result.tests.length > 0 ? ` and ${plural(result.tests.length, 'test file')}` : '';
  return `${plural(result.errors, 'error')}, ${plural(result.warnings, 'warning')}, ${plural(result.infos, 'info')} in ${plural(result.files.length, 'policy').replace('policys', 'policies')}${tests}`;
}
