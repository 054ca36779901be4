import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CompiledPolicy, CoverageCount, CoverageReport, Diagnostic, TestCaseResult } from '@tollgate/policy';
import { catalogInputSchemas, computeCoverage, loadPolicy, parseCatalog, parseTestFile, runTestFile, sortDiagnostics, uniqueDiagnostics } from '@tollgate/policy';
import { ExitCode } from './cli-error.js';
import { CATALOG_FILE_NAME, discoverPolicyFiles, foundFile, readPolicyFile, resolveTestPolicy, type DiscoverOptions, type FoundFile } from './policy-files.js';

/** What one test file did: its cases, and which rules its calls were decided by. */
export interface TestFileReport {
  /** The test file, relative to the working directory. */
  readonly file: string;
  /** The policy it ran against, or null when that policy could not be loaded. */
  readonly policy: string | null;
  readonly cases: readonly TestCaseResult[];
  readonly passed: number;
  readonly failed: number;
  /** Coverage items (rule ids and `tools.<t>` allow paths) its calls hit, sorted. */
  readonly hits: readonly string[];
  /** Wall time of the file's run in milliseconds. */
  readonly durationMs: number;
}

/** The rule coverage of one policy over every test file that ran against it. */
export interface PolicyCoverage extends CoverageReport {
  /** The policy file, relative to the working directory. */
  readonly policy: string;
  readonly server: string;
}

/** Whether every policy's coverage reached `--threshold`. */
export interface ThresholdVerdict {
  /** The threshold in percent. */
  readonly percent: number;
  readonly met: boolean;
  /** The policies under it, with their total coverage in percent. */
  readonly below: ReadonlyArray<{ readonly policy: string; readonly percent: number }>;
}

/**
 * The result of {@link runTestSuite}, and the document `test --format json` and `test --json`
 * print. `summary` is the line every output of `test` ends with.
 */
export interface TestSuiteResult {
  readonly files: readonly TestFileReport[];
  /** Cases passed and failed over all files (a sequence is one case). */
  readonly passed: number;
  readonly failed: number;
  /** Per policy, sorted by path: every policy found or named by a test that compiled. */
  readonly coverage: readonly PolicyCoverage[];
  /** Coverage items hit and total over all policies. */
  readonly total: CoverageCount;
  /** The `--threshold` verdict, or null when no threshold was given. */
  readonly threshold: ThresholdVerdict | null;
  /** Problems with test or policy files that kept them from running (exit 2). */
  readonly diagnostics: readonly Diagnostic[];
  /** `N passed, M failed`. */
  readonly summary: string;
}

/** Options of {@link runTestSuite}. */
export interface TestSuiteOptions extends DiscoverOptions {
  /** Coverage, in percent, that every policy must reach (`--threshold`). */
  readonly threshold?: number;
  /** Run only the cases whose name matches (`--run`); a test file with none is left out. */
  readonly only?: RegExp;
}

/** A run of {@link runTestSuiteWithSources}: the result and the directories its files live in. */
export interface TestSuiteRun {
  readonly result: TestSuiteResult;
  /** Absolute directories holding the policies, catalogs and test files of this run (for `--watch`). */
  readonly directories: readonly string[];
}

interface LoadedEntry {
  readonly file: FoundFile;
  readonly server: string;
  readonly policy: CompiledPolicy | undefined;
  readonly hits: Array<ReadonlySet<string>>;
}

/**
 * The input schemas of the `catalog.json` beside a policy (none when there is no catalog), or
 * the catalog's diagnostics when it is not a valid snapshot: tests must not run against a
 * policy whose catalog cannot be read, since they would then skip the argument checks.
 */
async function readCatalogBeside(policy: FoundFile, cwd: string): Promise<{ schemas: ReadonlyMap<string, object> | undefined; diagnostics: readonly Diagnostic[] }> {
  const absolute = join(dirname(policy.absolutePath), CATALOG_FILE_NAME);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { schemas: undefined, diagnostics: [] };
    throw error;
  }
  const parsed = parseCatalog(text, foundFile(absolute, cwd).path);
  return parsed.catalog ? { schemas: catalogInputSchemas(parsed.catalog), diagnostics: [] } : { schemas: undefined, diagnostics: parsed.diagnostics };
}

function percentOf(hit: number, total: number): CoverageCount {
  return { hit, total, percent: total === 0 ? 100 : Math.floor((hit / total) * 10_000) / 100 };
}

/**
 * Runs every test file found from `paths` (see {@link discoverPolicyFiles}): each policy is
 * loaded and compiled once, each test file runs against the policy its `"policy"` names
 * (default: the policy beside it), and rule coverage is summed per policy.
 *
 * A test or policy file that does not parse, validate or compile does not run; its
 * diagnostics are in `diagnostics` (and {@link testExitCode} is 2).
 *
 * @throws CliError exit 2 when a path is missing or unreadable.
 * @example
 * const result = await runTestSuite(['policies/'], { threshold: 100 });
 * console.log(result.summary); // "12 passed, 0 failed"
 */
export async function runTestSuite(paths: readonly string[], options: TestSuiteOptions = {}): Promise<TestSuiteResult> {
  return (await runTestSuiteWithSources(paths, options)).result;
}

/** {@link runTestSuite}, also returning the directories its files live in (for `--watch`). */
export async function runTestSuiteWithSources(paths: readonly string[], options: TestSuiteOptions = {}): Promise<TestSuiteRun> {
  const cwd = options.cwd ?? process.cwd();
  const found = await discoverPolicyFiles(paths, { cwd });
  const diagnostics: Diagnostic[] = [];
  const directories = new Set(found.directories);
  const policies = new Map<string, LoadedEntry>();

  const loadEntry = async (file: FoundFile, server: string): Promise<LoadedEntry> => {
    const known = policies.get(file.absolutePath);
    if (known) return known;
    // With the catalog beside it, the policy refuses invalid arguments exactly as the gateway does.
    const catalog = await readCatalogBeside(file, cwd);
    if (catalog.diagnostics.length > 0) diagnostics.push(...catalog.diagnostics);
    const loaded = catalog.diagnostics.length > 0 ? undefined : loadPolicy(await readPolicyFile(file), file.path, { server, ...(catalog.schemas ? { inputSchemas: catalog.schemas } : {}) });
    if (loaded && !loaded.policy) diagnostics.push(...loaded.diagnostics);
    const entry: LoadedEntry = { file, server, policy: loaded?.policy, hits: [] };
    policies.set(file.absolutePath, entry);
    directories.add(dirname(file.absolutePath));
    return entry;
  };

  for (const set of found.policies) await loadEntry(set.policy, set.server);

  const files: TestFileReport[] = [];
  for (const testFile of found.tests) {
    const started = performance.now();
    const parsed = parseTestFile(await readPolicyFile(testFile), testFile.path);
    if (!parsed.tests || !parsed.document) {
      diagnostics.push(...parsed.diagnostics);
      continue;
    }
    const policyPath = await resolveTestPolicy(testFile, parsed.tests.policy);
    const at = parsed.document.positionOf('/policy');
    if (policyPath === undefined) {
      diagnostics.push({
        code: 'TG300',
        severity: 'error',
        file: testFile.path,
        line: at.line,
        column: at.column,
        message: 'no policy to test: the file names none and there is no policy.json, policy.yaml or policy.yml beside it',
        hint: 'add "policy": "<path to the policy, relative to this file>"',
      });
      continue;
    }
    const policyFile = foundFile(policyPath, cwd);
    let entry: LoadedEntry;
    try {
      entry = await loadEntry(policyFile, serverOf(policyPath));
    } catch {
      diagnostics.push({
        code: 'TG300',
        severity: 'error',
        file: testFile.path,
        line: at.line,
        column: at.column,
        message: `its policy ${policyFile.path} cannot be read`,
        pointer: '/policy',
        hint: 'check the "policy" path; it is relative to the test file',
      });
      continue;
    }
    if (!entry.policy) {
      diagnostics.push({
        code: 'TG300',
        severity: 'error',
        file: testFile.path,
        line: at.line,
        column: at.column,
        message: `its policy ${policyFile.path} has errors and was not run (see its diagnostics)`,
        pointer: '/policy',
      });
      continue;
    }
    const only = options.only;
    const ran = runTestFile(parsed.tests, parsed.document, entry.policy, only ? { only: (name) => only.test(name) } : {});
    if (only && ran.cases.length === 0) continue;
    entry.hits.push(ran.hits);
    files.push({
      file: ran.file,
      policy: policyFile.path,
      cases: ran.cases,
      passed: ran.passed,
      failed: ran.failed,
      hits: [...ran.hits].sort(),
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    });
  }

  const coverage: PolicyCoverage[] = [];
  for (const entry of policies.values()) {
    if (!entry.policy) continue;
    coverage.push({ policy: entry.file.path, server: entry.server, ...computeCoverage(entry.policy, entry.hits) });
  }
  coverage.sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0));
  const total = percentOf(
    coverage.reduce((n, c) => n + c.total.hit, 0),
    coverage.reduce((n, c) => n + c.total.total, 0),
  );
  const passed = files.reduce((n, f) => n + f.passed, 0);
  const failed = files.reduce((n, f) => n + f.failed, 0);
  const threshold =
    options.threshold === undefined
      ? null
      : (() => {
          const below = coverage.filter((c) => c.total.percent < options.threshold!).map((c) => ({ policy: c.policy, percent: c.total.percent }));
          return { percent: options.threshold, met: below.length === 0, below };
        })();
  return {
    result: {
      files,
      passed,
      failed,
      coverage,
      total,
      threshold,
      diagnostics: sortDiagnostics(uniqueDiagnostics(diagnostics)),
      summary: `${passed} passed, ${failed} failed`,
    },
    directories: [...directories].sort(),
  };
}

/** A policy's server is the name of its directory (DESIGN §1: `policies/<server>/policy.json`). */
function serverOf(policyPath: string): string {
  return basename(dirname(policyPath));
}

/**
 * The exit status of `test`: 2 when a test or policy file could not be run, 1 when a case
 * failed or coverage is under the threshold, 0 otherwise.
 */
export function testExitCode(result: TestSuiteResult): number {
  if (result.diagnostics.some((d) => d.severity === 'error')) return ExitCode.input;
  if (result.failed > 0 || (result.threshold !== null && !result.threshold.met)) return ExitCode.findings;
  return ExitCode.ok;
}
