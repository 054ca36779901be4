/**
 * Stable codes of {@link LedgerError}. The CLI maps them to exit status and remediation text:
 * every code is an input or environment problem (exit 2) except where a caller decides
 * otherwise.
 */
export type LedgerErrorCode =
  /** The database cannot be reached, or did not answer within the configured time. */
  | 'ledger.unavailable'
  /** The embedded ledger's data directory is held by another live process that does not serve it to others. */
  | 'ledger.locked'
  /** There is no embedded ledger in the data directory, and the caller (a read-only command) does not create one. */
  | 'ledger.not_found'
  /** The embedded ledger's server (its socket, socket directory or server file) belongs to another user or is open to others. */
  | 'ledger.untrusted'
  /** The schema is missing or older than this code: run `tollgate ledger migrate`. */
  | 'ledger.not_migrated'
  /** A migration file that was already applied has changed since (checksum mismatch). */
  | 'ledger.migration_changed'
  /** A migration that was applied is missing from the migrations directory. */
  | 'ledger.migration_missing'
  /** The migrations directory or a file name in it is not usable. */
  | 'ledger.migration_invalid'
  /** A migration's SQL failed; nothing of it was applied. */
  | 'ledger.migration_failed'
  /** An event given to `append()` is malformed; the message names the field. */
  | 'ledger.invalid_event'
  /** Options given to a ledger function are malformed; the message names the option. */
  | 'ledger.invalid_options'
  /** A batch could not be committed; every `append()` waiting on it was rejected. */
  | 'ledger.write_failed'
  /** `append()` was called on a writer that is closed or closing. */
  | 'ledger.closed'
  /** A signing key could not be read or is not an Ed25519 private key. */
  | 'ledger.invalid_key'
  /** A checkpoint file could not be read or is not a signed checkpoint. */
  | 'ledger.invalid_checkpoint'
  /** A query filter or time bound is malformed. */
  | 'ledger.invalid_query'
  /** An approval request or vote given to the approval store is malformed; the message names the field. */
  | 'ledger.invalid_approval'
  /** No approval request has the given id. */
  | 'ledger.approval_not_found'
  /** The approval request is not in a state that allows what was asked (e.g. retiring a pending one). */
  | 'ledger.approval_conflict'
  /** A delivery of an approval event given to the delivery store is malformed; the message names the field. */
  | 'ledger.invalid_delivery';

/**
 * The one error class of `@tollgate/ledger`. `code` is stable and machine-readable; `message`
 * says what went wrong and where; `cause` keeps the underlying error (a `pg` error, an I/O
 * error) for logs.
 *
 * @example
 * try { await writer.append(event) } catch (e) {
 *   if (e instanceof LedgerError && e.code === 'ledger.unavailable') failClosed()
 * }
 */
export class LedgerError extends Error {
  /** Stable machine-readable code, e.g. `ledger.unavailable`. */
  readonly code: LedgerErrorCode;

  constructor(code: LedgerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LedgerError';
    this.code = code;
  }
}

/** True for a {@link LedgerError}, optionally with the given code. */
export function isLedgerError(error: unknown, code?: LedgerErrorCode): error is LedgerError {
  return error instanceof LedgerError && (code === undefined || error.code === code);
}

/** The message of any thrown value, for wrapping it into a {@link LedgerError}. */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map((e) => describeError(e)).join('; ');
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message || error.name;
    return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
  }
  return String(error);
}
