/** How serious a finding is. `error` fails `tollgate lint` (exit 1); `warning` and `info` do not. */
export type Severity = 'error' | 'warning' | 'info';

/**
 * One finding about a policy, catalog or test file, located to file:line:col (1-based).
 * Parsing, validation, compilation and lint all return lists of these; none of them
 * throws on the first problem.
 */
export interface Diagnostic {
  /** Stable code, e.g. `TG101`; see {@link DIAGNOSTIC_CODES}. */
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** JSON pointer of the node the finding is about, when it is about one. */
  readonly pointer?: string;
  /** How to fix it, when there is more to say than the message. */
  readonly hint?: string;
}

/**
 * The catalogue of diagnostic codes. Codes never change meaning; a retired code is not reused.
 * `name` is a short slug for people and SARIF rule names; `severity` is the default.
 */
export const DIAGNOSTIC_CODES = {
  TG001: { name: 'syntax', severity: 'error', summary: 'The file is not well-formed JSON or YAML.' },
  TG002: { name: 'duplicate-key', severity: 'error', summary: 'An object has the same key twice.' },
  TG003: { name: 'unreadable-file', severity: 'error', summary: 'The file could not be read.' },
  TG004: { name: 'conflicting-policy-files', severity: 'error', summary: 'A server directory holds more than one policy file (policy.json, policy.yaml, policy.yml), so which one is enforced would be a guess.' },
  TG010: { name: 'schema', severity: 'error', summary: 'The document does not match the schema of its kind.' },
  TG100: { name: 'invalid-regex', severity: 'error', summary: 'A regex condition is not a valid ECMAScript pattern, or uses a feature the linear-time regex engine does not support (lookaround, backreferences).' },
  TG101: { name: 'redos-regex', severity: 'error', summary: 'A regex is open to catastrophic backtracking.' },
  TG102: { name: 'limit-not-positive', severity: 'error', summary: 'A limit has a zero or negative max or window.' },
  TG103: { name: 'duplicate-id', severity: 'error', summary: 'Two rules share an id, so decisions cannot say which one decided.' },
  TG104: { name: 'unreachable-rule', severity: 'warning', summary: 'A rule can never be evaluated.' },
  TG105: { name: 'shadowed-rule', severity: 'warning', summary: 'A rule can never decide because an earlier rule always matches first.' },
  TG106: { name: 'empty-list', severity: 'warning', summary: 'An in/not_in condition has an empty list.' },
  TG107: { name: 'rule-id-collision', severity: 'error', summary: 'A rule id equals the positional id of another rule.' },
  TG110: { name: 'shadow-policy', severity: 'warning', summary: 'The policy is in shadow mode: it enforces nothing, every call is allowed and only recorded.' },
  TG111: { name: 'shadow-critical-tool', severity: 'warning', summary: 'A critical-risk tool\'s rule is in shadow mode, so its calls are let through by default "allow".' },
  TG112: { name: 'shadow-no-effect', severity: 'warning', summary: 'A "shadow" flag changes nothing: the policy is already in shadow, or the rule decides every call as the default does.' },
  TG113: { name: 'impossible-approval', severity: 'error', summary: 'An approval rule can never be approved: its approvers list is empty, or it needs more than one approval from the agent\'s own user alone.' },
  TG200: { name: 'unknown-tool', severity: 'error', summary: 'The policy names a tool the server\'s catalog does not have.' },
  TG201: { name: 'unknown-argument', severity: 'error', summary: 'A path names an argument the tool\'s input schema does not have.' },
  TG202: { name: 'type-mismatch', severity: 'error', summary: 'An operator or operand does not fit the argument\'s JSON Schema type, so the condition can never hold.' },
  TG203: { name: 'optional-argument-in-deny-if', severity: 'warning', summary: 'A deny_if condition tests an optional argument: the agent can bypass it by leaving the argument out.' },
  TG204: { name: 'unguarded-critical-tool', severity: 'warning', summary: 'A critical-risk tool is allowed with no condition, limit or approval.' },
  TG205: { name: 'no-catalog', severity: 'info', summary: 'No catalog.json beside the policy; catalog checks were skipped.' },
  TG206: { name: 'invalid-catalog', severity: 'error', summary: 'catalog.json is not a valid tools/list snapshot.' },
  TG400: { name: 'intercept-invalid', severity: 'error', summary: 'A policy in Intercept\'s format, being imported, is not valid by Intercept\'s own rules.' },
  TG300: { name: 'test-policy-missing', severity: 'error', summary: 'A test file\'s policy could not be found or loaded.' },
  TG301: { name: 'test-unknown-tool', severity: 'error', summary: 'A test case calls a tool the server\'s catalog does not have: the gateway answers such a call as an unknown tool, without a decision.' },
  TG302: { name: 'test-invalid-arguments', severity: 'error', summary: 'A test case\'s arguments fail the tool\'s input schema, so the gateway refuses the call (rule input_schema) before any rule, while the case expects something else.' },
  TG303: { name: 'test-impossible-expectation', severity: 'error', summary: 'A test case expects a decision the policy can never give that call.' },
  TG304: { name: 'test-unknown-rule', severity: 'error', summary: 'A test case expects a rule id the policy does not have.' },
  TG207: { name: 'optional-argument-in-approve-if', severity: 'warning', summary: 'An approve_if condition tests an optional argument: the agent can skip the approval by leaving the argument out.' },
  TG208: { name: 'diagnostics-truncated', severity: 'info', summary: 'More findings than the report shows; fix these and lint again.' },
  TG209: { name: 'lint-internal-error', severity: 'error', summary: 'A lint check failed unexpectedly; the policy could not be fully checked.' },
} as const satisfies Record<string, { name: string; severity: Severity; summary: string }>;

/** A code of {@link DIAGNOSTIC_CODES}. */
export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

/** True when any diagnostic is an error. */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Orders diagnostics by file, line, column, then code: the order every renderer prints. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

/** Formats a diagnostic on one line: `file:line:col: severity TG101 message`. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code} ${d.message}${d.hint ? ` (${d.hint})` : ''}`;
}

/**
 * The policy package's one error type. `code` is stable; `diagnostics` carries every
 * finding when the error is about a document (the CLI prints them and exits 2 or 1).
 */
export class PolicyError extends Error {
  readonly code: string;
  readonly diagnostics: readonly Diagnostic[];

  constructor(code: string, message: string, options: { diagnostics?: readonly Diagnostic[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'PolicyError';
    this.code = code;
    this.diagnostics = options.diagnostics ?? [];
  }
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
