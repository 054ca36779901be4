import { sortDiagnostics, type Diagnostic } from '../diagnostic.js';
import { LintContext, type LintOptions } from './lint-context.js';
import { LINT_RULE_FAMILIES } from './lint-rules.js';
import { loadPolicy, type LoadedPolicy } from '../compile/policy-loader.js';

export type { LintOptions } from './lint-context.js';

/** The result of {@link lintPolicy}. */
export interface LintResult {
  /** Every finding, sorted by position ({@link sortDiagnostics}), at most `maxDiagnostics` (+1 note). */
  readonly diagnostics: Diagnostic[];
  /** `parse`: the text is not JSON/YAML; `schema`: not a policy. Semantic checks ran only when undefined. */
  readonly failedAt: 'parse' | 'schema' | undefined;
}

const DEFAULT_MAX_DIAGNOSTICS = 200;

/**
 * Lints one policy file (`tollgate lint`): parse, schema and compile diagnostics from
 * {@link loadPolicy}, then, on a schema-valid policy, the semantic checks of DESIGN §3 — the
 * rule families of {@link LINT_RULE_FAMILIES}, one module each in `rules/` — each finding
 * with a stable code (see `docs/lint-rules.md`):
 * TG101 ReDoS-prone regex, TG104 unreachable rule or unused field, TG105 shadowed rule,
 * TG106 empty in/not_in list, TG113 an approval no one can give, TG200 unknown tool, TG201 unknown argument, TG202
 * operator/type mismatch, TG203/TG207 deny_if/approve_if condition bypassable by omitting an
 * optional argument, TG204 unguarded critical tool, TG205 no catalog, TG110–TG112 shadow mode.
 * Pure (no I/O), and it never throws: every problem is a diagnostic.
 *
 * @example
 * const { catalog } = parseCatalog(catalogText, 'policies/ccxt/catalog.json');
 * const { diagnostics } = lintPolicy(policyText, 'policies/ccxt/policy.json', { catalog });
 * for (const d of diagnostics) console.log(formatDiagnostic(d));
 */
export function lintPolicy(text: string, file: string, options: LintOptions = {}): LintResult {
  let loaded: LoadedPolicy;
  try {
    loaded = loadPolicy(String(text), file);
  } catch (error) {
    return { diagnostics: [internalError(file, 'loading the policy', error)], failedAt: 'schema' };
  }
  return lintLoadedPolicy(loaded, file, options);
}

/**
 * {@link lintPolicy} on a policy {@link loadPolicy} has already read (and compiled, with the
 * caller's options): the admission of a policy source lints what it is about to enforce.
 */
export function lintLoadedPolicy(loaded: LoadedPolicy, file: string, options: LintOptions = {}): LintResult {
  const max = Math.max(1, options.maxDiagnostics ?? DEFAULT_MAX_DIAGNOSTICS);
  if (loaded.failedAt === 'parse' || loaded.failedAt === 'schema' || !loaded.document || !loaded.source) {
    const failedAt = loaded.failedAt === 'parse' || !loaded.document ? 'parse' : 'schema';
    return { diagnostics: cap(sortDiagnostics(loaded.diagnostics), max, file), failedAt };
  }
  try {
    const ctx = new LintContext(loaded.document, loaded.source, options, max);
    runRuleFamilies(ctx);
    return { diagnostics: cap(sortDiagnostics([...loaded.diagnostics, ...ctx.diagnostics]), max, file, ctx.overflowed), failedAt: undefined };
  } catch (error) {
    return { diagnostics: [...loaded.diagnostics, internalError(file, 'starting the checks', error)], failedAt: undefined };
  }
}

function cap(diagnostics: Diagnostic[], max: number, file: string, overflowed = false): Diagnostic[] {
  if (diagnostics.length <= max) return diagnostics;
  const shown = diagnostics.slice(0, max);
  const last = shown[shown.length - 1]!;
  shown.push({
    code: 'TG208',
    severity: 'info',
    file,
    line: last.line,
    column: last.column,
    message: `${overflowed ? 'more than ' : ''}${diagnostics.length - max} more findings not shown (at most ${max} are reported)`,
    hint: 'fix the findings above and lint again',
  });
  return shown;
}

function internalError(file: string, what: string, error: unknown): Diagnostic {
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: 'TG209',
    severity: 'error',
    file,
    line: 1,
    column: 1,
    message: `lint failed while ${what}: ${message}`,
    hint: 'this is a bug in Tollgate; please report it with the policy that caused it',
  };
}

/** Runs every rule family in turn, until the findings reach their ceiling; then TG205 without a catalog. */
function runRuleFamilies(ctx: LintContext): void {
  for (const family of LINT_RULE_FAMILIES) {
    if (ctx.full) break;
    try {
      family.check(ctx);
    } catch (error) {
      // A family must never take the others down with it, nor throw out of lint.
      ctx.diagnostics.push(internalError(ctx.document.file, family.activity, error));
    }
  }
  if (!ctx.catalog) {
    ctx.report('TG205', '', 'no catalog given: tool names, argument names and types, optional arguments and catalog risk classes were not checked', {
      hint: 'put the server\'s catalog.json beside the policy; `tollgate catalog pull <server>` writes it',
      at: 'value',
      position: { line: 1, column: 1 },
    });
  }
}
