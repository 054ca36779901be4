import { Flags } from '@oclif/core';
import type { DemoResult } from '../gateway/demo-runner.js';
import { TollgateCommand } from '../base-command.js';

/**
 * `tollgate demo [--database-url]`: the demo exchange behind the gateway with
 * policies/ccxt, a scripted agent showing every effect, the ledger's decisions and
 * `ledger verify`. The work is done by `runDemo`; this renders it.
 */
export default class Demo extends TollgateCommand {
  static override summary = 'See Tollgate work: a scripted agent trades through the gateway; every decision lands in the ledger.';

  static override description = `Starts the demo exchange (an MCP server with the CCXT server's 19 tools) behind the gateway with the policy in policies/ccxt, then runs a scripted agent over Streamable HTTP: an allowed read, an allowed small order, an order over the cap, cancel_order held until a scripted desk lead approves it (it then runs once; the identical repeat is held again and denied), the hidden leverage tool, a withdrawal that two treasury approvers must both grant, the daily notional cap and the rate limit. Then it prints the decisions and approvals as the ledger recorded them and verifies the ledger's hash chains.

With --console the gateway keeps running after the script, with the approvals console open on the printed address, a desk lead's token printed to sign in with, and one more cancel_order held for you to approve or deny there; Ctrl-C stops it and prints the ledger.

Without --database-url (or TOLLGATE_DATABASE_URL) the embedded ledger in .tollgate/ledger is used. Run it inside the repository after \`pnpm build\`.

Exit status: 0 when the ledger verifies, 1 when it does not, 2 when the demo cannot run.`;

  static override usage = 'demo [--console [--console-port <port>]] [--database-url <url>] [--json]';

  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --console', '<%= config.bin %> demo --database-url postgres://postgres@127.0.0.1:5432/tollgate'];

  static override flags = {
    console: Flags.boolean({ description: 'after the script, keep the gateway running with the approvals console open and a cancel_order held for you to decide; Ctrl-C stops it', default: false }),
    'console-port': Flags.integer({ description: 'the port of the admin API and console with --console (default: a free one)', min: 0, max: 65535, dependsOn: ['console'], helpValue: '<port>' }),
    'database-url': Flags.string({ description: 'PostgreSQL URL of the ledger (default: the embedded ledger in .tollgate/ledger)', env: 'TOLLGATE_DATABASE_URL', helpValue: '<url>' }),
  };

  public async run(): Promise<DemoResult> {
    const { flags } = await this.parse(Demo);
    const { runDemo } = await import('../gateway/demo-runner.js');
    const { renderDemoProgress, renderDemoReport } = await import('../gateway/demo-report.js');
    const { shouldColour } = await import('../render/terminal-style.js');
    const { asCliError } = await import('../gateway/gateway-runner.js');
    const json = this.jsonEnabled();
    const colour = shouldColour(process.stdout);
    // With --console, Ctrl-C (or SIGTERM) ends the wait for a person; the demo then ends as usual.
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    if (flags.console) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    let result: DemoResult;
    try {
      result = await runDemo({
        cwd: process.cwd(),
        ...(flags['database-url'] ? { databaseUrl: flags['database-url'] } : {}),
        ...(flags.console ? { console: { signal: stop.signal, ...(flags['console-port'] !== undefined ? { port: flags['console-port'] } : {}) } } : {}),
        onProgress: (event) => {
          // With --json the console's address and token still reach the person, on stderr.
          if (!json) process.stdout.write(renderDemoProgress(event, colour));
          else if (event.kind === 'console') process.stderr.write(renderDemoProgress(event, false));
        },
      });
    } catch (error) {
      throw asCliError(error);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (!json) process.stdout.write(renderDemoReport(result, colour));
    if (!result.verify.ok) process.exitCode = 1;
    return result;
  }
}
