import { Flags } from '@oclif/core';
import type { AdminPolicyReport } from '@tollgate/gateway';
import { TollgateCommand } from '../../base-command.js';
import { fetchGatewayStatus, renderGatewayStatus } from '../../gateway/gateway-status.js';
import { shouldColour, terminalStyle } from '../../render/terminal-style.js';

/**
 * `tollgate gateway status`: what a running gateway enforces, from its admin API. The work is
 * `fetchGatewayStatus` and `renderGatewayStatus`.
 */
export default class GatewayStatus extends TollgateCommand {
  static override summary = 'Show what a running gateway enforces: the active bundle revision, Git commit and signers, the last check and the last refusal.';

  static override description = `Asks the gateway's admin API (GET /policy) for each upstream's active policy and, with a Git policy source, the active bundle (revision, commit, signing key ids, digest, when it was activated), when the repository was last checked, and the last bundle it refused and why.

The admin token comes from --token or the TOLLGATE_ADMIN_TOKEN environment variable.

Exit status: 0 when the report was read, 2 when the admin API is unreachable or refuses the token.`;

  static override examples = ['<%= config.bin %> gateway status --admin-url http://127.0.0.1:8081', 'TOLLGATE_ADMIN_TOKEN=… <%= config.bin %> gateway status --admin-url http://127.0.0.1:8081 --json'];

  static override flags = {
    'admin-url': Flags.string({ description: "the gateway's admin API (admin.host and admin.port of its configuration)", default: 'http://127.0.0.1:8081', helpValue: '<url>' }),
    token: Flags.string({ description: 'the admin bearer token', env: 'TOLLGATE_ADMIN_TOKEN', helpValue: '<token>' }),
  };

  public async run(): Promise<AdminPolicyReport> {
    const { flags } = await this.parse(GatewayStatus);
    const report = await fetchGatewayStatus({ adminUrl: flags['admin-url'], token: flags.token });
    if (!this.jsonEnabled()) this.log(renderGatewayStatus(report, terminalStyle(shouldColour(process.stdout))));
    return report;
  }
}
