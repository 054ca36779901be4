import { posix } from 'node:path';
import { parseCatalog } from '../catalog/catalog.js';
import { canonicalJson } from '../canonical-json.js';
import { formatDiagnostic, hasErrors, type Diagnostic } from '../diagnostic.js';
import type { PolicyTestFile } from '../generated/test-file-types.js';
import type { LimitStore } from '../evaluate/limit-store.js';
import { admitPolicy } from '../lint/policy-admission.js';
import { POLICY_FILE_NAMES } from '../policy-repository-layout.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import { validateDocument } from '../parse/schema-validator.js';
import type { SourceDocument } from '../parse/source-document.js';
import { runTestFile, type TestFileResult } from '../test-runner.js';
import type { PolicyBundle } from './bundle-format.js';
import type { PolicyRevision } from '../policy-revision.js';

/** Options of {@link compileBundle}. */
export interface CompileBundleOptions {
  /** The revision the compiled policies carry (default: the manifest's). */
  readonly revision?: PolicyRevision;
  /** Where the compiled policies count limits (default: a new in-memory store each). */
  readonly limits?: LimitStore;
  /** The compiled policies' clock (default `Date.now`). */
  readonly clock?: () => number;
  /** Run the bundle's own test files (default true). */
  readonly runTests?: boolean;
  /**
   * The files as written, parsed, by bundle path: diagnostics and test results then point at
   * their file:line:col. Without them, they name the file and the JSON pointer.
   */
  readonly sources?: ReadonlyMap<string, SourceDocument>;
  /** Each file's canonical JSON text, when the caller has already computed it (saves the work). */
  readonly canonicalTexts?: ReadonlyMap<string, string>;
}

/** How many of the bundle's test cases passed and failed. */
export interface BundleTestSummary {
  readonly passed: number;
  readonly failed: number;
}

/**
 * The result of {@link compileBundle}: every server's compiled policy and the test results,
 * or why the content is not acceptable — `policy.invalid` (a policy, catalog or test file
 * fails its schema, or lint finds an error in a policy) or `tests.failed`.
 */
export type BundleCompilation =
  | {
      readonly ok: true;
      /** Compiled policies by server. */
      readonly policies: ReadonlyMap<string, CompiledPolicy>;
      readonly testSummary: BundleTestSummary;
      readonly testResults: readonly TestFileResult[];
    }
  | {
      readonly ok: false;
      readonly code: 'policy.invalid' | 'tests.failed';
      /** The first problems, one per line, each naming its file. */
      readonly message: string;
      readonly diagnostics: readonly Diagnostic[];
      readonly testSummary: BundleTestSummary;
      readonly testResults: readonly TestFileResult[];
    };

/** How many problems a refusal message lists before "and N more". */
const MESSAGE_LINES = 5;

function detachedDocument(file: string, value: unknown): SourceDocument {
  return { file, format: 'json', text: '', value, positionOf: () => ({ line: 1, column: 1 }) };
}

function summarise(lines: readonly string[]): string {
  const shown = lines.slice(0, MESSAGE_LINES).join('\n');
  return lines.length > MESSAGE_LINES ? `${shown}\n…and ${lines.length - MESSAGE_LINES} more` : shown;
}

/**
 * The policy a test file of a bundle runs against: its `policy` field resolved against the
 * test file's directory inside the bundle, else the policy beside it.
 */
export function bundleTestPolicyPath(testPath: string, policyField: string | undefined, has: (path: string) => boolean): string | undefined {
  const dir = posix.dirname(testPath);
  if (policyField !== undefined) return posix.normalize(posix.join(dir, policyField));
  for (const name of POLICY_FILE_NAMES) {
    const candidate = `${dir}/${name}`;
    if (has(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Validates every file of a bundle against the schema of its kind, admits every policy as
 * `tollgate lint` would ({@link admitPolicy}: no error finding, checked against the bundle's
 * catalog of its server; two policies for one server are TG004), compiles it (one per server,
 * carrying the bundle's revision) and runs the bundle's own test files against them. Checks
 * the content only: signatures and hashes are {@link verifyBundle}'s. Without `sources`,
 * findings are placed in each file's canonical JSON text as the bundle holds it, with their
 * JSON pointer.
 *
 * @example
 * const compiled = compileBundle(bundle, { runTests: true });
 * if (compiled.ok) compiled.policies.get('ccxt')?.decide({ tool: 'fetch_ticker', args: {} });
 */
export function compileBundle(bundle: PolicyBundle, options: CompileBundleOptions = {}): BundleCompilation {
  const revision = options.revision === undefined ? bundle.manifest.revision : options.revision;
  const diagnostics: Diagnostic[] = [];
  const lines: string[] = [];
  // Without the files as written, positions are in the bundled canonical JSON text; the pointer says where.
  const describe = (d: Diagnostic): string => (options.sources?.has(d.file) || !d.pointer ? formatDiagnostic(d) : `${formatDiagnostic(d)} [at ${d.pointer}]`);
  const documents = new Map<string, SourceDocument>();
  const byPath = new Map<string, CompiledPolicy>();
  const policies = new Map<string, CompiledPolicy>();
  const tests: Array<{ path: string; tests: PolicyTestFile; document: SourceDocument }> = [];
  const reported = new Set<string>();
  const report = (found: readonly Diagnostic[]): void => {
    for (const d of found) {
      // A catalog is checked on its own and again with its policy: each finding is told once.
      const key = `${d.file}\u0000${d.line}\u0000${d.column}\u0000${d.code}\u0000${d.message}`;
      if (reported.has(key)) continue;
      reported.add(key);
      diagnostics.push(d);
      if (d.severity === 'error') lines.push(describe(d));
    }
  };
  const textOf = (path: string): string => options.sources?.get(path)?.text || options.canonicalTexts?.get(path) || canonicalJson(bundle.files[path]);
  const paths = Object.keys(bundle.manifest.files).sort();
  const policyPaths = (server: string): string[] => paths.filter((p) => bundle.manifest.files[p]!.kind === 'policy' && bundle.manifest.files[p]!.server === server);
  const catalogPath = (server: string): string | undefined => paths.find((p) => bundle.manifest.files[p]!.kind === 'catalog' && bundle.manifest.files[p]!.server === server);

  for (const path of paths) {
    const entry = bundle.manifest.files[path]!;
    const value = bundle.files[path];
    const document = options.sources?.get(path) ?? detachedDocument(path, value);
    documents.set(path, document);
    if (entry.kind === 'policy') {
      // The same admission as `tollgate lint` and every other policy source: no error finding, with the bundle's catalog.
      const catalog = catalogPath(entry.server);
      const admitted = admitPolicy(
        {
          text: textOf(path),
          file: path,
          ...(catalog !== undefined ? { catalog: { text: textOf(catalog), file: catalog } } : {}),
          siblings: policyPaths(entry.server).filter((p) => p !== path),
        },
        {
          server: entry.server,
          revision,
          ...(options.limits ? { limits: options.limits } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
        },
      );
      report(admitted.errors);
      if (!admitted.policy) continue;
      policies.set(entry.server, admitted.policy);
      byPath.set(path, admitted.policy);
    } else if (entry.kind === 'catalog') {
      report(parseCatalog(textOf(path), path).diagnostics);
    } else {
      const schema = validateDocument(document, 'test-file');
      if (schema.length > 0) report(schema);
      else tests.push({ path, tests: value as PolicyTestFile, document });
    }
  }
  const noTests = { passed: 0, failed: 0 };
  if (lines.length > 0 || hasErrors(diagnostics)) {
    return { ok: false, code: 'policy.invalid', message: summarise(lines), diagnostics, testSummary: noTests, testResults: [] };
  }
  if (options.runTests === false) return { ok: true, policies, testSummary: noTests, testResults: [] };

  const testResults: TestFileResult[] = [];
  let passed = 0;
  let failed = 0;
  for (const t of tests) {
    const policyPath = bundleTestPolicyPath(t.path, t.tests.policy, (p) => Object.hasOwn(bundle.manifest.files, p));
    const policy = policyPath === undefined ? undefined : byPath.get(policyPath);
    if (!policy) {
      const why = policyPath === undefined ? 'names no policy and there is none beside it' : `runs against ${policyPath}, which the bundle does not hold`;
      lines.push(`${t.path}: the test file ${why}`);
      failed += t.tests.cases.length;
      continue;
    }
    const result = runTestFile(t.tests, t.document, policy);
    testResults.push(result);
    passed += result.passed;
    failed += result.failed;
    for (const c of result.cases) {
      if (c.failure) lines.push(`${options.sources?.has(t.path) ? `${c.file}:${c.line}:${c.column}` : c.file}: case ${JSON.stringify(c.name)} failed: ${c.failure.mismatches.join('; ')}`);
    }
  }
  const testSummary = { passed, failed };
  if (lines.length > 0) {
    return { ok: false, code: 'tests.failed', message: `${failed} of ${passed + failed} test cases failed:\n${summarise(lines)}`, diagnostics, testSummary, testResults };
  }
  return { ok: true, policies, testSummary, testResults };
}
