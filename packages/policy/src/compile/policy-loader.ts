import type { Diagnostic } from '../diagnostic.js';
import type { Policy } from '../generated/policy-types.js';
import { tryCompilePolicy, type CompileOptions } from './policy-compiler.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import { validateDocument } from '../parse/schema-validator.js';
import { parseSourceDocument, type SourceDocument } from '../parse/source-document.js';

/** The result of {@link loadPolicy}: each stage's output, as far as the text got. */
export interface LoadedPolicy {
  /** The parsed document (undefined when the text is not well-formed). */
  readonly document: SourceDocument | undefined;
  /** The schema-valid policy (undefined when parsing or validation failed). */
  readonly source: Policy | undefined;
  /** The compiled policy (undefined when any stage reported an error). */
  readonly policy: CompiledPolicy | undefined;
  /** Every diagnostic of every stage that ran, in file order. */
  readonly diagnostics: readonly Diagnostic[];
  /** Which stage stopped the pipeline, if one did: `parse` errors are input errors (exit 2). */
  readonly failedAt: 'parse' | 'schema' | 'compile' | undefined;
}

/**
 * Parse -> validate -> compile, with file:line:col diagnostics from every stage. Never throws
 * for a bad document; the caller decides what to do with the diagnostics.
 *
 * @example
 * const { policy, diagnostics } = loadPolicy(readFileSync(file, 'utf8'), file, { server: 'ccxt' });
 */
export function loadPolicy(text: string, file: string, options: Omit<CompileOptions, 'source' | 'validated'> = {}): LoadedPolicy {
  const parsed = parseSourceDocument(text, file);
  const document = parsed.document;
  if (!document) return { document, source: undefined, policy: undefined, diagnostics: parsed.diagnostics, failedAt: 'parse' };
  const schemaDiagnostics = validateDocument(document, 'policy');
  if (schemaDiagnostics.length > 0) return { document, source: undefined, policy: undefined, diagnostics: schemaDiagnostics, failedAt: 'schema' };
  const source = document.value as Policy;
  const compiled = tryCompilePolicy(source, { ...options, source: document, validated: true });
  return {
    document,
    source,
    policy: compiled.policy,
    diagnostics: compiled.diagnostics,
    failedAt: compiled.policy ? undefined : 'compile',
  };
}
