/**
 * Stable codes of {@link GatewayError}. Codes that reach agents in a tool result
 * (`invalid_arguments`, `ledger.unavailable`, `upstream.unavailable`) are part of the
 * gateway's contract; the rest are start-up and configuration problems the CLI maps to exit 2.
 */
export type GatewayErrorCode =
  /** The configuration file is missing, malformed or does not match its schema. */
  | 'config.invalid'
  /** A policy file is missing for an upstream, or does not parse, validate or compile. */
  | 'policy.invalid'
  /** No policy can be served: the Git policy source is unreachable and nothing usable was persisted, or its bundle was refused. */
  | 'policy.unavailable'
  /** The Git policy source's state directory cannot be read or written, or holds a corrupt file. */
  | 'policy.state'
  /** An upstream MCP server could not be started or reached, or it went away. */
  | 'upstream.unavailable'
  /** Two upstreams offer the same (prefixed) tool name, or an upstream answered with something unusable. */
  | 'upstream.invalid'
  /** The ledger could not record a decision; the call was not forwarded. */
  | 'ledger.unavailable'
  /** A port could not be bound or a listener failed. */
  | 'listen.failed'
  /** The PostgreSQL limit store could not be reached or answered unexpectedly. */
  | 'limits.unavailable'
  /** The gateway is shutting down and takes no new calls. */
  | 'gateway.closing'
  /** `tollgate demo` cannot run here: the repository is missing or not built. */
  | 'demo.unavailable';

/**
 * The one error class of `@tollgate/gateway`. `code` is stable and machine-readable;
 * `message` says what went wrong and where; `cause` keeps the underlying error.
 *
 * @example
 * try { await startGateway(config) } catch (e) {
 *   if (e instanceof GatewayError && e.code === 'config.invalid') console.error(e.message)
 * }
 */
export class GatewayError extends Error {
  /** Stable machine-readable code. */
  readonly code: GatewayErrorCode;
  /** For `config.invalid`: every problem found, each at file:line:col. */
  readonly problems: readonly ConfigProblem[];

  constructor(code: GatewayErrorCode, message: string, options: { cause?: unknown; problems?: readonly ConfigProblem[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.problems = options.problems ?? [];
  }
}

/** One problem in a configuration file, located to file:line:col (1-based). */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** JSON pointer of the offending node. */
  readonly pointer: string;
  readonly message: string;
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
