import { Args, Flags } from '@oclif/core';
import type { ApprovalBody } from '@tollgate/gateway';
import { TollgateCommand } from '../../base-command.js';
import { approvalConnection, approvalConnectionFlags } from '../../approvals/approval-flags.js';
import { decideApproval, renderApproval } from '../../approvals/approval-requests.js';
import { shouldColour, terminalStyle } from '../../render/terminal-style.js';

/** `tollgate approvals deny <id>`. The work is `decideApproval`. */
export default class ApprovalsDeny extends TollgateCommand {
  static override summary = 'Deny an approval request: the held call is refused with your reason.';

  static override description = `Sends POST /approvals/<id>/deny to the gateway's admin API as the approver whose token is given. The decision is recorded in the ledger (approval.denied, with you as the approver and your reason) before anyone is told of it.

Exit status: 0 when it was recorded; 1 when it was refused — the rule does not allow you to decide it, you made the call yourself, you already decided it, or it is no longer pending; 2 when it does not exist or the admin API is unreachable or refuses the token.`;

  static override examples = ['<%= config.bin %> approvals deny 0195f3c2-… --reason "checked with the desk"'];

  static override args = { id: Args.string({ required: true, description: 'the approval id' }) };

  static override flags = {
    ...approvalConnectionFlags,
    reason: Flags.string({ description: 'why (recorded with your decision)', helpValue: '<text>' }),
  };

  public async run(): Promise<ApprovalBody> {
    const { args, flags } = await this.parse(ApprovalsDeny);
    const approval = await decideApproval(approvalConnection(flags), args.id, 'deny', flags.reason);
    if (!this.jsonEnabled()) this.log(renderApproval(approval, terminalStyle(shouldColour(process.stdout)), Date.now()));
    return approval;
  }
}
