import { sql } from 'kysely';
import type { LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import type { LedgerError } from '../ledger-error.js';
import { parseCheckpoint, readSigningKey, signCheckpoint, writeCheckpointFile, type SignedCheckpoint, type StrandHead } from './checkpoint-signer.js';

/** Options of {@link createCheckpoint}. */
export interface CreateCheckpointOptions {
  /** The Ed25519 private key (PEM PKCS#8), e.g. `keys/ledger.key`. */
  keyFile: string;
  /** Also write the signed checkpoint to this file (meant to live outside the database). */
  outFile?: string;
  /** The clock that stamps the checkpoint; default now. */
  clock?: () => Date;
}

/** What {@link createCheckpoint} made. */
export interface CheckpointResult {
  checkpoint: SignedCheckpoint;
  /** The absolute path of the file written, when `outFile` was given. */
  file: string | null;
  /** Events covered: the sum of every head's sequence number. */
  events: number;
}

/**
 * The head of every registered strand, read in one statement (one snapshot). Unregistered
 * strands are not covered; `verifyLedger` reports them.
 */
export async function readStrandHeads(connection: LedgerConnection): Promise<StrandHead[]> {
  try {
    const result = await sql<{ strand_id: string; seq: number; hash: string }>`
      SELECT s.strand_id::text AS strand_id, h.seq, h.hash
      FROM ledger_strands s
      CROSS JOIN LATERAL (
        SELECT e.seq, e.hash FROM ledger_events e WHERE e.strand_id = s.strand_id ORDER BY e.seq DESC LIMIT 1
      ) h
      ORDER BY s.strand_id`.execute(connection.db);
    return result.rows.map((r) => ({ strand_id: r.strand_id, seq: r.seq, hash: r.hash }));
  } catch (error) {
    throw ledgerErrorFromPg(error, connection.location, 'reading the strand heads');
  }
}

/**
 * Signs the head of every strand (Ed25519), stores the signed checkpoint in
 * `ledger_checkpoints` and, with `outFile`, writes it to a file as well. Verifying later
 * proves every strand still begins with what was signed, and that no event dated before the
 * checkpoint (less the grace for events in flight) was added since: `created_at` is read from
 * the clock just before the heads, so it bounds the period the checkpoint covers.
 *
 * @example await createCheckpoint(connection, { keyFile: 'keys/ledger.key', outFile: 'ledger/checkpoint.json' })
 * @throws LedgerError `ledger.invalid_key`, `ledger.invalid_checkpoint` (file), `ledger.unavailable`.
 */
export async function createCheckpoint(connection: LedgerConnection, options: CreateCheckpointOptions): Promise<CheckpointResult> {
  const key = readSigningKey(options.keyFile);
  // Stamped before the heads are read: whatever committed after that snapshot (and so is not
  // covered) was appended no earlier than the writer's commit latency before this time, which
  // is what lets verify tell an event in flight from one dated back into the period.
  const createdAt = (options.clock ?? (() => new Date()))();
  const heads = await readStrandHeads(connection);
  const checkpoint = signCheckpoint(heads, key, createdAt);
  try {
    await connection.db
      .insertInto('ledger_checkpoints')
      .values({
        checkpoint_id: checkpoint.checkpoint_id,
        created_at: checkpoint.created_at,
        key_id: checkpoint.key_id,
        public_key: checkpoint.public_key,
        heads: JSON.stringify(checkpoint.heads),
        signature: checkpoint.signature,
      })
      .execute();
  } catch (error) {
    throw ledgerErrorFromPg(error, connection.location, 'storing the checkpoint');
  }
  const file = options.outFile === undefined ? null : await writeCheckpointFile(options.outFile, checkpoint);
  return { checkpoint, file, events: heads.reduce((sum, h) => sum + h.seq, 0) };
}

/** Every checkpoint stored in the database, oldest first. A malformed row is reported as such. */
export async function readStoredCheckpoints(connection: LedgerConnection): Promise<Array<SignedCheckpoint | LedgerError>> {
  let rows: Array<{ checkpoint_id: string; created_at: Date; key_id: string; public_key: string; heads: unknown; signature: string }>;
  try {
    rows = await connection.db
      .selectFrom('ledger_checkpoints')
      .select(['checkpoint_id', 'created_at', 'key_id', 'public_key', 'heads', 'signature'])
      .orderBy('created_at')
      .orderBy('checkpoint_id')
      .execute();
  } catch (error) {
    throw ledgerErrorFromPg(error, connection.location, 'reading the checkpoints');
  }
  return rows.map((row) => {
    try {
      return parseCheckpoint(
        { format: 'tollgate.ledger.checkpoint/1', ...row, created_at: row.created_at.toISOString() },
        `ledger_checkpoints row ${row.checkpoint_id}`,
      );
    } catch (error) {
      return error as LedgerError;
    }
  });
}

