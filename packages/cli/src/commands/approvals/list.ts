import { Flags } from '@oclif/core';
import type { ApprovalBody } from '@tollgate/gateway';
import { TollgateCommand } from '../../base-command.js';
import { approvalConnection, approvalConnectionFlags } from '../../approvals/approval-flags.js';
import { APPROVAL_STATUSES, listApprovals, renderApprovalTable } from '../../approvals/approval-requests.js';

/** `tollgate approvals list`: the approval requests of a running gateway. The work is `listApprovals`. */
export default class ApprovalsList extends TollgateCommand {
  static override summary = 'List approval requests: the calls that wait for a human, and those already decided.';

  static override description = `Asks the gateway's admin API (GET /approvals) with an approver's or the admin token. Pending requests by default; --status all for every one, newest first.

Exit status: 0 when the list was read, 2 when the admin API is unreachable or refuses the token.`;

  static override examples = ['TOLLGATE_TOKEN=… <%= config.bin %> approvals list', '<%= config.bin %> approvals list --status all --limit 20 --json'];

  static override flags = {
    ...approvalConnectionFlags,
    status: Flags.option({ options: APPROVAL_STATUSES, default: 'pending' as const, description: 'which requests' })(),
    limit: Flags.integer({ min: 1, max: 1000, default: 100, description: 'most requests listed' }),
  };

  public async run(): Promise<{ approvals: ApprovalBody[] }> {
    const { flags } = await this.parse(ApprovalsList);
    const approvals = await listApprovals(approvalConnection(flags), flags.status, flags.limit);
    if (!this.jsonEnabled()) this.log(renderApprovalTable(approvals, Date.now()));
    return { approvals };
  }
}
