import { Flags } from '@oclif/core';
import type { VerifyReport } from '@tollgate/ledger';
import { parseDuration } from '@tollgate/policy';
import { ExitCode } from '../../cli-error.js';
import { TollgateCommand } from '../../base-command.js';
import { ledgerConnectionFlags, withLedger } from '../../ledger/ledger-command-support.js';
import { renderVerifyReport } from '../../ledger/ledger-report-renderer.js';

/** A duration flag: `60s`, `2m`, `500ms`, or `0`. */
const duration = (description: string) =>
  Flags.custom<number>({
    description,
    helpValue: '<60s|2m|0>',
    // oclif names the flag in front of the message.
    parse: async (input: string) => {
      if (input.trim() === '0') return 0;
      try {
        return parseDuration(input.trim());
      } catch {
        throw new Error(`expected a duration such as 60s, 2m or 500ms, or 0, got "${input}"`);
      }
    },
  });

const grace = duration(
  'how long before a checkpoint an event it does not cover may be dated and still count as in flight when it was taken (default 60s; 0 when every writer was stopped)',
);
const approvalGrace = duration(
  "how far out of order the events of one approval may be dated (the replicas' clocks differ): a grant before its request, a call before its grants or after its expiry (default 60s; 0 for a single gateway)",
);

/**
 * `tollgate ledger verify`: recompute every hash chain and check every checkpoint. The work is
 * `verifyLedger` of @tollgate/ledger.
 */
export default class LedgerVerify extends TollgateCommand {
  static override summary = 'Recompute every strand of the ledger and check its checkpoints; name the first bad event.';

  static override description = `Reads every event of every strand in order and checks that sequence numbers have no gaps, that each event links to the one before it (prev_hash) and that its hash is SHA-256(prev_hash || canonical(event)). Checks each checkpoint (those in the database and those given with --checkpoint): its Ed25519 signature, its key (with --trust), that every strand still begins with what it signed, and that it bounds its period: an event it does not cover (a strand it does not list, or a seq beyond the head it signed) must not be dated before it, less --grace for appends in flight when it was taken.

Checks every approval across all strands (a request opened on one gateway replica is often granted through another): each approval.granted, approval.denied and approval.expired follows the approval.requested of its id (less --approval-grace for the replicas' clocks), no approval id is requested twice, none is granted by the agent that requested it, and each allowed call that names an approval ran on a request for that very call (server, tool, agent, arguments), before the request's expiry, after its min_approvals distinct approvers granted it and none denied it — and no approval is used twice.

On failure it names the first bad event (strand, sequence, event id, and the approval id for an approval) and what is wrong: changed, removed, inserted or reordered events, a cut tail, a forged or untrusted checkpoint, events backdated into a checkpoint's period, an approval decided without a request, granted by its requester, used twice, after it expired, without its grants, or for another call. It also lists calls that were allowed but have no recorded outcome.

Exit status: 0 intact, 1 tampering or an unsound approval found (or, with --strict, allowed calls without an outcome), 2 bad input or an unreachable database.`;

  static override examples = [
    '<%= config.bin %> ledger verify',
    '<%= config.bin %> ledger verify --checkpoint ledger/checkpoints/2030-05-01.json --trust keys/ledger.pub --record',
  ];

  static override flags = {
    ...ledgerConnectionFlags,
    checkpoint: Flags.string({ multiple: true, description: 'a checkpoint file (from `tollgate ledger checkpoint --out`) to check too', helpValue: 'file' }),
    trust: Flags.string({ multiple: true, description: 'an Ed25519 public key (PEM) checkpoints must be signed by', helpValue: '<prefix>.pub' }),
    record: Flags.boolean({ description: 'store the result in ledger_verifications (integrity evidence for auditors)' }),
    strict: Flags.boolean({ description: 'also fail (exit 1) when an allowed call has no outcome' }),
    grace: grace(),
    'approval-grace': approvalGrace(),
  };

  public async run(): Promise<VerifyReport> {
    const { flags } = await this.parse(LedgerVerify);
    const { verifyLedger } = await import('@tollgate/ledger');
    const report = await withLedger(flags, (connection) =>
      verifyLedger(connection, {
        checkpointFiles: flags.checkpoint ?? [],
        trustedKeyFiles: flags.trust ?? [],
        record: flags.record,
        ...(flags.grace === undefined ? {} : { checkpointGraceMs: flags.grace }),
        ...(flags['approval-grace'] === undefined ? {} : { approvalGraceMs: flags['approval-grace'] }),
      }),
    );
    this.log(renderVerifyReport(report, flags.strict).trimEnd());
    if (!report.ok || (flags.strict && report.missing_outcomes.count > 0)) process.exitCode = ExitCode.findings;
    return report;
  }
}
