import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIAGNOSTIC_CODES, DOCS_URL, REPOSITORY_URL, sha256Hex, type Diagnostic, type DiagnosticCode, type Severity } from '@tollgate/policy';
import type { Log, ReportingDescriptor, Result } from 'sarif';
import type { LintResult } from '../lint-runner.js';
import { rootRelativePath } from './source-root.js';

/** Where the project's documentation lives; SARIF rules link into `lint-rules.md`. */
export const DOCS_BASE_URL = DOCS_URL;

/** The `$schema` of the SARIF logs `lint --format sarif` writes. */
export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';

/** The key of Tollgate's own partial fingerprint in SARIF results. */
export const FINGERPRINT_KEY = 'tollgateFindingHash/v1';

/** Options of {@link buildSarifLog}. */
export interface SarifOptions {
  /** The directory diagnostics' paths are relative to. */
  readonly cwd: string;
  /** The repository root: artifact URIs are relative to it, under `%SRCROOT%`. */
  readonly root: string;
  /** The tool's version (the CLI's package version). */
  readonly version: string;
}

const LEVELS: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };

/** Every lint code, in code order; a rule's `ruleIndex` is its place here. */
const RULE_CODES = (Object.keys(DIAGNOSTIC_CODES) as DiagnosticCode[]).sort();

function ruleOf(code: DiagnosticCode): ReportingDescriptor {
  const entry = DIAGNOSTIC_CODES[code];
  return {
    id: code,
    name: entry.name,
    shortDescription: { text: entry.summary },
    defaultConfiguration: { level: LEVELS[entry.severity] },
    // The anchor GitHub gives the rule's heading, `## TG101 redos-regex`.
    helpUri: `${DOCS_BASE_URL}lint-rules.md#${code.toLowerCase()}-${entry.name}`,
  };
}

function uriOf(file: string, options: SarifOptions): { uri: string; uriBaseId?: string } {
  const rel = rootRelativePath(file, options.cwd, options.root);
  if (rel !== undefined) return { uri: rel.split('/').map(encodeURIComponent).join('/'), uriBaseId: '%SRCROOT%' };
  return { uri: pathToFileURL(resolve(options.cwd, file)).href };
}

function resultOf(d: Diagnostic, options: SarifOptions): Result {
  const artifactLocation = uriOf(d.file, options);
  // The pointer, not the line, identifies the finding, so it survives edits above it.
  const anchor = d.pointer ?? `${d.line}:${d.column}`;
  return {
    ruleId: d.code,
    ruleIndex: RULE_CODES.indexOf(d.code),
    level: LEVELS[d.severity],
    message: { text: d.hint ? `${d.message} (${d.hint})` : d.message },
    locations: [
      {
        physicalLocation: {
          artifactLocation,
          region: { startLine: d.line, startColumn: d.column },
        },
      },
    ],
    partialFingerprints: { [FINGERPRINT_KEY]: sha256Hex(`${d.code}\u0000${artifactLocation.uri}\u0000${anchor}\u0000${d.message}`) },
  };
}

/**
 * Builds a SARIF 2.1.0 log of lint findings that GitHub code scanning accepts: one run whose
 * `tool.driver` lists every lint code as a rule (id, name, description, default level,
 * help link), and one result per diagnostic located at `%SRCROOT%`-relative file, line and
 * column, with a partial fingerprint that does not change when lines move.
 */
export function buildSarifLog(result: LintResult, options: SarifOptions): Log {
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'tollgate',
            informationUri: REPOSITORY_URL,
            semanticVersion: options.version,
            version: options.version,
            rules: RULE_CODES.map(ruleOf),
          },
        },
        originalUriBaseIds: { '%SRCROOT%': { uri: pathToFileURL(options.root.endsWith('/') ? options.root : `${options.root}/`).href } },
        columnKind: 'utf16CodeUnits',
        results: result.diagnostics.map((d) => resultOf(d, options)),
      },
    ],
  };
}

/** Renders {@link buildSarifLog} as two-space indented JSON. */
export function renderLintSarif(result: LintResult, options: SarifOptions): string {
  return JSON.stringify(buildSarifLog(result, options), null, 2);
}
