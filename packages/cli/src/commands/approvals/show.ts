import { Args } from '@oclif/core';
import type { ApprovalBody } from '@tollgate/gateway';
import { TollgateCommand } from '../../base-command.js';
import { approvalConnection, approvalConnectionFlags } from '../../approvals/approval-flags.js';
import { renderApproval, showApproval } from '../../approvals/approval-requests.js';
import { shouldColour, terminalStyle } from '../../render/terminal-style.js';

/** `tollgate approvals show <id>`: one request in full. The work is `showApproval`. */
export default class ApprovalsShow extends TollgateCommand {
  static override summary = 'Show one approval request: the call and its arguments (redacted as in the ledger), the rule, who may decide, every decision, and every webhook notification with its attempts.';

  static override description = `Asks the gateway's admin API (GET /approvals/<id>). With approvals.notify configured, it lists each notification of the request's events (requested, each grant or denial, expired) per receiver: delivered, pending, failed or dropped, and every attempt with its time, HTTP status or error, duration and the replica that made it.

Exit status: 0 when the request was read, 2 when it does not exist or the admin API is unreachable or refuses the token.`;

  static override examples = ['<%= config.bin %> approvals show 0195f3c2-…'];

  static override args = { id: Args.string({ required: true, description: 'the approval id (from the agent\'s answer, or approvals list)' }) };

  static override flags = { ...approvalConnectionFlags };

  public async run(): Promise<ApprovalBody> {
    const { args, flags } = await this.parse(ApprovalsShow);
    const approval = await showApproval(approvalConnection(flags), args.id);
    if (!this.jsonEnabled()) this.log(renderApproval(approval, terminalStyle(shouldColour(process.stdout)), Date.now()));
    return approval;
  }
}
