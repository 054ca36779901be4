import { randomUUID } from 'node:crypto';
import { readCheckpointFile, readTrustedKey, type SignedCheckpoint } from '../checkpoint/checkpoint-signer.js';
import type { LedgerBackend, LedgerConnection } from '../database/ledger-connection.js';
import { LedgerError } from '../ledger-error.js';
import { ApprovalPass, DEFAULT_APPROVAL_GRACE_MS, type ApprovalSummary } from './approval-pass.js';
import { ChainPass, type StrandSummary } from './chain-pass.js';
import { CheckpointPass, type CheckpointSummary } from './checkpoint-pass.js';
import { CompletenessPass, type CompletenessFindings } from './completeness-pass.js';
import { VerifyReader } from './verify-reader.js';
import type { VerifyProblem } from './verify-problem.js';

/**
 * How long before a checkpoint's `created_at` an event it does not cover may be dated, by
 * default (60 s). A writer stamps an event when it is appended and commits it later: behind
 * the batch in flight, through a reconnect and a resync after a failed batch, and its own COPY
 * and COMMIT, each bounded by the statement timeout (5 s by default) plus a second — about
 * 40 s at worst with the defaults. The rest covers clock skew between the gateways' hosts and
 * the host that took the checkpoint. An event dated earlier than this before a checkpoint that
 * does not cover it was not in flight when the checkpoint was taken: it was backdated.
 */
export const DEFAULT_CHECKPOINT_GRACE_MS = 60_000;

/** The result of {@link verifyLedger}. */
export interface VerifyReport {
  /** True when every strand and checkpoint is intact (missing outcomes do not count). */
  ok: boolean;
  backend: LedgerBackend;
  location: string;
  verified_at: string;
  duration_ms: number;
  /** Events checked. */
  events: number;
  strands: StrandSummary[];
  checkpoints: CheckpointSummary[];
  /** The problems found, in ledger order, at most `maxProblems`. */
  problems: VerifyProblem[];
  /** How many problems there were in all. */
  problem_count: number;
  /** The first bad event: what `tollgate ledger verify` names. */
  first_problem: VerifyProblem | null;
  /** Allowed calls with no outcome (the gateway stopped mid-call, or an outcome was removed). */
  missing_outcomes: CompletenessFindings;
  /** The approvals checked across every strand, and how many problems they had. */
  approvals: ApprovalSummary;
  /** The row written to `ledger_verifications`, when `record` was set. */
  verification_id: string | null;
}

/** Options of {@link verifyLedger}. */
export interface VerifyLedgerOptions {
  /** Checkpoint files (from `tollgate ledger checkpoint --out`) to check as well as the database's. */
  checkpointFiles?: readonly string[];
  /** Already-read checkpoints to check, labelled by their source. */
  checkpoints?: ReadonlyArray<{ checkpoint: SignedCheckpoint; source: string }>;
  /** Ed25519 public keys (PEM SPKI files) checkpoints must be signed by. */
  trustedKeyFiles?: readonly string[];
  /** Record the result in `ledger_verifications` (needs INSERT). */
  record?: boolean;
  /** Events read per query (default 5000). */
  pageSize?: number;
  /** Problems kept in the report (default 100; all are counted). */
  maxProblems?: number;
  /** Allowed-without-outcome calls listed (default 20; all are counted). */
  missingOutcomeSample?: number;
  /** The clock for `verified_at`. */
  clock?: () => Date;
  /**
   * How long before a checkpoint was taken an event it does not cover may be dated and still
   * count as in flight at the time (default {@link DEFAULT_CHECKPOINT_GRACE_MS}). Raise it
   * with the writers' statement timeout, or for clocks that drift apart; 0 for a ledger whose
   * writers were all stopped when its checkpoints were taken.
   */
  checkpointGraceMs?: number;
  /**
   * How far out of order the events of one approval may be dated (a grant before its request,
   * a use before its grants or after its expiry) and still count as in order (default
   * {@link DEFAULT_APPROVAL_GRACE_MS}): the clocks of the replicas that stamped them differ.
   * Raise it for clocks that drift further apart; 0 for a single gateway.
   */
  approvalGraceMs?: number;
}

/**
 * Recomputes every strand of the ledger and checks every checkpoint: sequence numbers run
 * 1, 2, 3… without gaps, each `prev_hash` is the hash of the event before, each `hash` is
 * SHA-256(prev_hash || canonical(event)), each checkpoint is validly signed (by a trusted
 * key, when given) and still a prefix of its strands; and, across all strands, that every
 * approval was requested before it was decided, never granted by its requester, and used at
 * most once, unexpired, for the call it was requested for, after enough distinct grants
 * (`ApprovalPass`). Also reports allowed calls without an outcome.
 *
 * One reader ({@link VerifyReader}) does every read, and separate passes check what it reads:
 * the checkpoints first ({@link CheckpointPass}), then every event once, page by page so memory
 * does not grow with the ledger, through the chain pass ({@link ChainPass}) and the checkpoint
 * pass, then each approval's events ({@link ApprovalPass}), then the calls without an outcome
 * ({@link CompletenessPass}). Problems are reported in that order and kept in ledger order.
 *
 * @example
 * const report = await verifyLedger(connection, { checkpointFiles: ['ledger/checkpoint.json'] })
 * if (!report.ok) console.error(report.first_problem)
 */
export async function verifyLedger(connection: LedgerConnection, options: VerifyLedgerOptions = {}): Promise<VerifyReport> {
  const clock = options.clock ?? (() => new Date());
  const started = performance.now();
  const verifiedAt = clock();
  const pageSize = options.pageSize ?? 5000;
  const maxProblems = options.maxProblems ?? 100;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new LedgerError('ledger.invalid_options', `verify: "pageSize" must be a positive integer (got ${String(options.pageSize)})`);
  }
  const graceMs = options.checkpointGraceMs ?? DEFAULT_CHECKPOINT_GRACE_MS;
  if (!Number.isInteger(graceMs) || graceMs < 0) {
    throw new LedgerError(
      'ledger.invalid_options',
      `verify: "checkpointGraceMs" must be an integer number of milliseconds >= 0 (got ${String(options.checkpointGraceMs)})`,
    );
  }
  const approvalGraceMs = options.approvalGraceMs ?? DEFAULT_APPROVAL_GRACE_MS;
  if (!Number.isInteger(approvalGraceMs) || approvalGraceMs < 0) {
    throw new LedgerError(
      'ledger.invalid_options',
      `verify: "approvalGraceMs" must be an integer number of milliseconds >= 0 (got ${String(options.approvalGraceMs)})`,
    );
  }
  const trusted = new Set((options.trustedKeyFiles ?? []).map((file) => readTrustedKey(file).keyId));
  const fileCheckpoints = [
    ...(options.checkpoints ?? []),
    ...(options.checkpointFiles ?? []).map((file) => ({ checkpoint: readCheckpointFile(file), source: file })),
  ];

  const problems: VerifyProblem[] = [];
  let problemCount = 0;
  const report = (problem: VerifyProblem): void => {
    problemCount += 1;
    if (problems.length < maxProblems) problems.push(problem);
  };

  const reader = new VerifyReader(connection, pageSize);
  const checkpoints = new CheckpointPass(trusted, graceMs, report);
  checkpoints.readCheckpoints(await reader.storedCheckpoints(), fileCheckpoints);
  const chain = new ChainPass(reader, await reader.strands());
  const events = await checkEvents(reader, chain, checkpoints, report);
  for (const found of chain.finish()) report(found);
  for (const found of checkpoints.finish()) report(found);
  const approvals = new ApprovalPass(approvalGraceMs, report);
  await reader.approvalEvents((group) => approvals.check(group));
  const missingOutcomes = await new CompletenessPass(options.missingOutcomeSample ?? 20).run(reader);

  const ordered = orderProblems(problems);
  const result: VerifyReport = {
    ok: problemCount === 0,
    backend: connection.backend,
    location: connection.location,
    verified_at: verifiedAt.toISOString(),
    duration_ms: Math.round(performance.now() - started),
    events,
    strands: chain.strands,
    checkpoints: checkpoints.checkpoints,
    problems: ordered,
    problem_count: problemCount,
    first_problem: ordered.find((p) => p.event_id !== null) ?? ordered[0] ?? null,
    missing_outcomes: missingOutcomes,
    approvals: approvals.summary,
    verification_id: null,
  };
  if (options.record) {
    result.verification_id = randomUUID();
    await reader.recordVerification({
      verification_id: result.verification_id,
      verified_at: result.verified_at,
      ok: result.ok,
      strands: result.strands.length,
      events,
      checkpoints: result.checkpoints.length,
      problems: problemCount,
      missing_outcomes: missingOutcomes.count,
      first_problem: result.first_problem ? JSON.stringify(result.first_problem) : null,
      report: JSON.stringify({ ...result, verification_id: result.verification_id }),
    });
  }
  return result;
}

/**
 * Reads every event once, strand by strand, through the chain and checkpoint passes; returns
 * how many there were. For each event the chain's fault is reported first, then the
 * checkpoints' (a rewritten head, a backdated event); for each strand, once read, whether it is
 * registered, then the checkpoint heads beyond its end. A strand is `ok` when none was found.
 */
async function checkEvents(reader: VerifyReader, chain: ChainPass, checkpoints: CheckpointPass, report: (problem: VerifyProblem) => void): Promise<number> {
  let events = 0;
  let strandId: string | undefined;
  let strandProblems = 0;
  const finishStrand = (): void => {
    const unregistered = chain.unregistered();
    if (unregistered) {
      report(unregistered);
      strandProblems += 1;
    }
    for (const found of checkpoints.finishStrand(chain.last)) {
      report(found);
      strandProblems += 1;
    }
    chain.finishStrand(strandProblems);
  };
  for await (const page of reader.eventPages()) {
    for (const row of page) {
      events += 1;
      if (row.strand_id !== strandId) {
        if (strandId !== undefined) finishStrand();
        strandId = row.strand_id;
        strandProblems = 0;
        chain.startStrand(row);
        checkpoints.startStrand(row.strand_id, chain.registered(row.strand_id));
      }
      const found = await chain.check(row);
      let hadProblem = found !== undefined;
      if (found) report(found);
      for (const mismatch of checkpoints.checkHeads(row)) {
        hadProblem = true;
        report(mismatch);
      }
      if (hadProblem) strandProblems += 1;
      const backdated = checkpoints.checkPeriod(row);
      if (backdated) {
        report(backdated);
        strandProblems += 1;
      }
      chain.advance(row, found, hadProblem);
    }
  }
  if (strandId !== undefined) finishStrand();
  return events;
}

/** Event-level problems in ledger order (strand, seq); checkpoint-level ones after. */
function orderProblems(problems: VerifyProblem[]): VerifyProblem[] {
  return [...problems].sort((a, b) => {
    if (a.strand_id === null || b.strand_id === null) return a.strand_id === null ? (b.strand_id === null ? 0 : 1) : -1;
    if (a.strand_id !== b.strand_id) return a.strand_id < b.strand_id ? -1 : 1;
    return (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER);
  });
}
