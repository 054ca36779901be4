import { Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import type { GatewayCheckReport } from '../gateway/gateway-check.js';
import type { GatewayRunResult } from '../gateway/gateway-runner.js';

/**
 * `tollgate gateway [--config file]`: runs the MCP gateway until SIGTERM/SIGINT (graceful
 * shutdown) or, for a stdio-only gateway, until the agent disconnects. The work is done by
 * `runGateway` and `@tollgate/gateway`.
 */
export default class Gateway extends TollgateCommand {
  static override summary = 'Run the MCP gateway: every tool call is checked, decided by policy, recorded in the ledger, then forwarded.';

  static override description = `Agents connect to the gateway instead of their MCP servers, over stdio and/or Streamable HTTP (bearer tokens). Each tools/call is validated against the tool's input schema, decided by the upstream's policy (policy.dir/<server>/policy.json|yaml, or the signed bundle of policy.git: see tollgate gateway status), committed to the ledger, and only then forwarded; its outcome is recorded too. Resources, prompts, completion, logging and notifications pass through unchanged.

Without --config the first of tollgate.gateway.yaml, tollgate.gateway.yml, tollgate.gateway.json in the current directory is used. Logs are JSON lines on stderr. SIGTERM stops accepting, lets calls in flight finish and flushes the ledger.

--database-url (or TOLLGATE_DATABASE_URL) replaces the file's ledger.database_url, so the database password can come from the environment instead of the file.

--check starts nothing: it validates the configuration, connects to each upstream and lists its tools, loads and compiles each policy (or reads the signed bundle from Git and verifies it with its tests), reaches the ledger and compares its migrations, prints a report and exits — for CI, deploy scripts and container start-up checks.

Exit status: 0 after a clean shutdown (--check: everything it needs works), 1 (--check) an upstream, policy or the ledger fails, 2 for a bad configuration, policy, upstream, port or ledger.`;

  static override usage = 'gateway [--config <file>] [--database-url <url>] [--check] [--json]';

  static override examples = [
    '<%= config.bin %> gateway --config tollgate.gateway.yaml',
    '<%= config.bin %> gateway',
    '<%= config.bin %> gateway --config tollgate.gateway.yaml --check',
    'TOLLGATE_DATABASE_URL=postgres://gateway:…@db:5432/tollgate <%= config.bin %> gateway --config tollgate.gateway.yaml',
  ];

  static override flags = {
    config: Flags.string({ char: 'c', description: 'the gateway configuration (JSON or YAML; see docs/gateway.md)', helpValue: '<file>' }),
    'database-url': Flags.string({ env: 'TOLLGATE_DATABASE_URL', description: "the ledger's PostgreSQL URL, instead of ledger.database_url in the file", helpValue: '<url>' }),
    check: Flags.boolean({ default: false, description: 'check the configuration, upstreams, policies and ledger, print a report and exit; serve nothing' }),
  };

  public async run(): Promise<GatewayRunResult | GatewayCheckReport> {
    const { flags } = await this.parse(Gateway);
    const where = { cwd: process.cwd(), ...(flags.config !== undefined ? { config: flags.config } : {}), ...(flags['database-url'] ? { databaseUrl: flags['database-url'] } : {}) };
    if (flags.check) {
      const { checkGateway, gatewayCheckExitCode } = await import('../gateway/gateway-check.js');
      const report = await checkGateway(where);
      if (!this.jsonEnabled()) {
        const { renderGatewayCheck } = await import('../gateway/gateway-check-renderer.js');
        const { shouldColour, terminalStyle } = await import('../render/terminal-style.js');
        process.stdout.write(renderGatewayCheck(report, terminalStyle(shouldColour(process.stdout))));
      }
      process.exitCode = gatewayCheckExitCode(report);
      return report;
    }
    const { runGateway } = await import('../gateway/gateway-runner.js');
    const result = await runGateway({
      ...where,
      onReady: (gateway) => {
        const where = [gateway.config.listen.stdio ? 'stdio' : undefined, gateway.http?.url].filter(Boolean).join(' and ');
        const policy = gateway.config.policy;
        // The source's own location: a remote URL's credentials are left out of it.
        const status = gateway.policies.status?.();
        const from = policy.kind === 'git' ? `the signed bundle at ${status?.kind === 'git' ? status.location : policy.git.repo}` : policy.dir;
        process.stderr.write(`tollgate gateway: serving ${where}; policies from ${from}\n`);
      },
    });
    if (!this.jsonEnabled()) process.stderr.write(`tollgate gateway: stopped (${result.stopped})\n`);
    return result;
  }
}
