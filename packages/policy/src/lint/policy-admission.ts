import { parseCatalog, type Catalog } from '../catalog/catalog.js';
import { sortDiagnostics, uniqueDiagnostics, type Diagnostic } from '../diagnostic.js';
import { lintLoadedPolicy } from './policy-linter.js';
import { loadPolicy, type LoadedPolicy } from '../compile/policy-loader.js';
import type { CompileOptions } from '../compile/policy-compiler.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import type { SourceDocument } from '../parse/source-document.js';
import { POLICY_FILE_NAMES } from '../policy-repository-layout.js';

/** The file name at the end of a `/`- or `\`-separated path. */
function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

/**
 * The TG004 finding for a server directory that holds more than one policy file
 * (`policy.json` and `policy.yaml`, …): which one a reader enforces would be a guess, so every
 * reader refuses the directory. `files` are the policy files of one directory, as shown to the
 * user; the finding is placed on the one readers would otherwise pick first. Undefined for
 * zero or one file.
 *
 * @example policyFileConflict(['policies/ccxt/policy.yaml', 'policies/ccxt/policy.json'])?.code // 'TG004'
 */
export function policyFileConflict(files: readonly string[]): Diagnostic | undefined {
  const unique = [...new Set(files)];
  if (unique.length < 2) return undefined;
  const rank = (f: string): number => {
    const i = (POLICY_FILE_NAMES as readonly string[]).indexOf(baseName(f));
    return i < 0 ? POLICY_FILE_NAMES.length : i;
  };
  const sorted = unique.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const [first, ...others] = sorted as [string, ...string[]];
  const names = sorted.map(baseName);
  return {
    code: 'TG004',
    severity: 'error',
    file: first,
    line: 1,
    column: 1,
    message: `the server directory has ${sorted.length} policy files (${names.join(', ')}): it must hold exactly one, and which of them would be enforced is ambiguous, so none is`,
    hint: `keep one policy file per server directory: delete ${others.join(' and ')}, or ${first}`,
  };
}

/** A policy as a source holds it, with what lies beside it. */
export interface PolicyCandidate {
  /** The policy's text as written (JSON or YAML): findings point at its file:line:col. */
  readonly text: string;
  /** The file the findings name, e.g. `policies/ccxt/policy.json`. */
  readonly file: string;
  /** The server's catalog — `catalog.json` beside the policy, or the bundle's — when there is one. */
  readonly catalog?: { readonly text: string; readonly file: string };
  /** The other policy files of the same server directory, if any: each one refuses the policy (TG004). */
  readonly siblings?: readonly string[];
}

/** Options of {@link admitPolicy}: how the admitted policy is compiled, and how long lint may study a regex. */
export interface AdmitPolicyOptions extends Omit<CompileOptions, 'source' | 'validated' | 'adopt'> {
  /** How long the ReDoS analysis (TG101) may take per pattern (default: lint's, 5000 ms). */
  readonly regexTimeoutMs?: number;
}

/** The outcome of {@link admitPolicy}. */
export interface PolicyAdmission {
  /** The compiled policy, when it is admitted: no finding is an error. */
  readonly policy: CompiledPolicy | undefined;
  /** The error findings that refuse the policy (empty when admitted), sorted by position. */
  readonly errors: readonly Diagnostic[];
  /** Every finding `tollgate lint` reports for the policy (errors, warnings, infos), sorted by position. */
  readonly diagnostics: readonly Diagnostic[];
  /** Where lint stopped: `parse` (not well-formed JSON/YAML), `schema` (not a policy); undefined when every check ran. */
  readonly failedAt: 'parse' | 'schema' | undefined;
  /** The catalog given is not well-formed JSON/YAML. */
  readonly catalogMalformed: boolean;
  /** The policy's parsed document, when its text is well-formed (positions as written). */
  readonly document: SourceDocument | undefined;
}

/** How many findings admission collects before it gives up checking (it then refuses). */
const MAX_FINDINGS = 10_000;

/**
 * Decides whether a policy may be enforced: exactly when `tollgate lint` finds no error in it.
 * The findings are lint's — parse, schema and compile diagnostics, the semantic checks (TG101
 * ReDoS-prone regex, …), the catalog checks (TG200–TG202, TG206 for the catalog itself) when a
 * catalog is given, and TG004 when the server directory holds another policy file — with the
 * same codes and file:line:col. Every policy source calls this one function: `tollgate lint`,
 * the gateway's directory source, `tollgate bundle build` and `bundle verify`, and the
 * gateway's Git source (through {@link compileBundle}), so what one admits the others admit.
 * Pure, and it never throws: every problem is a diagnostic.
 *
 * @example
 * const admitted = admitPolicy({ text, file: 'policies/ccxt/policy.json', catalog: { text: catalogText, file: 'policies/ccxt/catalog.json' } }, { server: 'ccxt' });
 * if (!admitted.policy) throw new Error(admitted.errors.map(formatDiagnostic).join('\n'));
 */
export function admitPolicy(candidate: PolicyCandidate, options: AdmitPolicyOptions = {}): PolicyAdmission {
  const { regexTimeoutMs, ...compileOptions } = options;
  const found: Diagnostic[] = [];
  const conflict = candidate.siblings && candidate.siblings.length > 0 ? policyFileConflict([candidate.file, ...candidate.siblings]) : undefined;
  if (conflict) found.push(conflict);

  let catalog: Catalog | undefined;
  let catalogMalformed = false;
  if (candidate.catalog) {
    const parsed = parseCatalog(candidate.catalog.text, candidate.catalog.file);
    found.push(...parsed.diagnostics);
    catalogMalformed = parsed.document === undefined;
    catalog = parsed.catalog;
  }

  let loaded: LoadedPolicy | undefined;
  try {
    loaded = loadPolicy(String(candidate.text), candidate.file, compileOptions);
  } catch (error) {
    found.push(internalError(candidate.file, `loading the policy: ${error instanceof Error ? error.message : String(error)}`));
  }
  let failedAt: PolicyAdmission['failedAt'];
  if (loaded) {
    const linted = lintLoadedPolicy(loaded, candidate.file, {
      ...(catalog && candidate.catalog ? { catalog, catalogFile: candidate.catalog.file } : {}),
      ...(regexTimeoutMs !== undefined ? { regexTimeoutMs } : {}),
      maxDiagnostics: MAX_FINDINGS,
    });
    failedAt = linted.failedAt;
    // A catalog that exists but is invalid is reported by its own errors; "no catalog" would mislead.
    found.push(...(candidate.catalog ? linted.diagnostics.filter((d) => d.code !== 'TG205') : linted.diagnostics));
    if (linted.diagnostics.some((d) => d.code === 'TG208')) {
      found.push(internalError(candidate.file, `more than ${MAX_FINDINGS} findings: the policy could not be fully checked`));
    }
  }
  const diagnostics = uniqueDiagnostics(sortDiagnostics(found));
  const errors = diagnostics.filter((d) => d.severity === 'error');
  return {
    policy: errors.length === 0 ? loaded?.policy : undefined,
    errors,
    diagnostics,
    failedAt,
    catalogMalformed,
    document: loaded?.document,
  };
}

function internalError(file: string, message: string): Diagnostic {
  return { code: 'TG209', severity: 'error', file, line: 1, column: 1, message, hint: 'split the policy, or fix the findings lint reports first' };
}
