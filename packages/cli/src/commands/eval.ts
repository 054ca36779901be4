import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import { EVAL_APPROVALS, type EvalReport } from '../explain/call-evaluator.js';

/**
 * `tollgate eval <server> --tool T --args '{…}'`: decides one ad-hoc call against the policy
 * in the working tree and prints the decision; `--explain` prints every step of the evaluation.
 * The work is `evaluateCall` and `renderEvalPretty`.
 */
export default class Eval extends TollgateCommand {
  static override summary = 'Decide one call against a server\'s policy in the working tree; --explain shows every step.';

  static override description = `Loads <dir>/<server>/policy.{json,yaml,yml} and the catalog.json beside it, exactly as \`tollgate test\` does (arguments are checked against the catalog's input schemas), decides the call and prints the decision: effect, rule, reason and code.

--explain prints the trace, like \`opa eval --explain\`: each step of the evaluation order (hidden, arguments, default, action, require, deny_if, approve_if with the approval lookup, limits, allow), each rule and condition with the value found at its path (or "missing") and whether it held, which step decided, and each limit's counter before and after the call. Counters are fresh, in memory: the call is the first of its windows. For a policy or tool rule in shadow mode it also prints what it would have decided.

The call runs as --agent (default test-agent, as in tollgate test) with any --label key=value, in --session (default test-session), at --at (default now). --approval decides it as though an approval for it was granted, denied or had expired.

Exit status: 0 when the decision was printed, whatever its effect; 2 an unknown server, --args that is not a JSON object (with the line and column of a syntax error), or an invalid policy or catalog (with file:line:col).`;

  static override usage = 'eval SERVER --tool <name> [--args <json>] [--agent <id>] [--label key=value…] [--session <id>] [--dir policies] [--at <time>] [--approval granted|denied|expired] [--explain] [--json]';

  static override examples = [
    `<%= config.bin %> eval ccxt --tool create_spot_market_order --args '{"exchange_id":"binance","symbol":"BTC/USDT","side":"buy","amount":5}' --explain`,
    `<%= config.bin %> eval ccxt --tool create_futures_limit_order --args '{"exchange_id":"binance","symbol":"BTC/USDT:USDT","side":"buy","amount":0.8,"price":50000}' --label team=desk --approval granted`,
    '<%= config.bin %> eval everything --tool get-env --json',
  ];

  static override args = {
    server: Args.string({ required: true, description: 'the server whose policy decides: the name of its directory under --dir' }),
  };

  static override flags = {
    tool: Flags.string({ char: 't', required: true, description: 'the tool called (its name on the upstream, without a <server>__ prefix)' }),
    args: Flags.string({ char: 'a', default: '{}', description: 'the arguments: a JSON object', helpValue: '<json>' }),
    agent: Flags.string({ description: 'the agent id the call is made as (default test-agent)' }),
    label: Flags.string({ char: 'l', multiple: true, description: 'an agent label, key=value (repeatable)', helpValue: 'key=value' }),
    session: Flags.string({ description: 'the session id (default test-session)' }),
    dir: Flags.string({ char: 'd', default: 'policies', description: 'the policies directory', helpValue: 'dir' }),
    at: Flags.custom<Date>({
      description: 'the decision time: ISO 8601 (UTC unless a zone is given), "now", or a duration before now (15m, 24h); it places the call in its limit windows',
      helpValue: '2026-05-01T10:00:00Z',
      parse: async (input) => (await import('@tollgate/ledger')).parseLedgerTime(input, new Date()),
    })(),
    approval: Flags.option({ options: EVAL_APPROVALS, description: 'decide as though the call\'s approval was granted, denied or had expired' })(),
    explain: Flags.boolean({ char: 'e', default: false, description: 'print every step of the evaluation, each rule and condition, and the counters' }),
  };

  public async run(): Promise<EvalReport> {
    const { args, flags } = await this.parse(Eval);
    const { evaluateCall } = await import('../explain/call-evaluator.js');
    const report = await evaluateCall({
      cwd: process.cwd(),
      dir: flags.dir,
      server: args.server,
      tool: flags.tool,
      args: flags.args,
      labels: flags.label ?? [],
      explain: flags.explain,
      ...(flags.agent !== undefined ? { agent: flags.agent } : {}),
      ...(flags.session !== undefined ? { session: flags.session } : {}),
      ...(flags.at !== undefined ? { at: flags.at } : {}),
      ...(flags.approval !== undefined ? { approval: flags.approval } : {}),
    });
    if (!this.jsonEnabled()) {
      const { renderEvalPretty } = await import('../explain/eval-report-renderer.js');
      const { shouldColour, terminalStyle } = await import('../render/terminal-style.js');
      process.stdout.write(renderEvalPretty(report, terminalStyle(shouldColour(process.stdout))));
    }
    return report;
  }
}
