import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import { DEFAULT_BUNDLE_PATH } from '../explain/policy-revision-finder.js';
import type { ExplainReport } from '../explain/recorded-call-explainer.js';
import { ledgerConnectionFlags } from '../ledger/ledger-command-support.js';

/**
 * `tollgate explain <call_id>`: the trace of a call recorded in the ledger, under the policy
 * revision that decided it. The work is `explainRecordedCall` and `renderExplainPretty`.
 */
export default class Explain extends TollgateCommand {
  static override summary = 'Explain a call recorded in the ledger, step by step, under the policy that decided it.';

  static override description = `Reads the call's decision from the ledger, finds the policy it names by digest — the working tree's <dir>/<server>/policy.* if it matches, else in the policy repository's Git history a committed signed bundle (${DEFAULT_BUNDLE_PATH}) whose manifest has the recorded revision, or a committed version of the policy file — and decides the call again under it, printing the same trace as \`tollgate eval --explain\`.

It says plainly what cannot be replayed exactly: arguments redacted in the ledger, agent labels (the ledger does not record them; give them with --label), limit counters (re-derived from the ledger's earlier decisions of the same counter and window; shadow counters are unknown and taken as 0), the approval (from the ledger's approval events), the input schema (the catalog found with the policy), and whether the recorded and the re-derived decisions agree.

Exit status: 0 when the explanation was printed (whether or not the decisions agree: see "agreement" in --json); 2 an unknown call id, a policy that cannot be found for the recorded digest, an unreachable or unmigrated ledger.`;

  static override usage = 'explain CALL_ID [--database-url <url> | --data-dir <dir>] [--repo <path>] [--dir policies] [--bundle-path bundles/bundle.json] [--label key=value…] [--json]';

  static override examples = [
    '<%= config.bin %> explain 0193f0c2-5b7e-7c1a-9d2e-4f6a8b0c1d2e',
    '<%= config.bin %> explain 0193f0c2-5b7e-7c1a-9d2e-4f6a8b0c1d2e --database-url postgres://auditor@db:5432/tollgate --repo ../desk-policies',
    '<%= config.bin %> explain 0193f0c2-5b7e-7c1a-9d2e-4f6a8b0c1d2e --label team=desk --json',
  ];

  static override args = {
    call_id: Args.string({ required: true, description: 'the call id of the decision (ledger column call_id; an agent sees it as decision_id)' }),
  };

  static override flags = {
    ...ledgerConnectionFlags,
    repo: Flags.string({ char: 'r', description: 'the policy repository whose working tree and Git history are searched (default: the working directory)', helpValue: 'path' }),
    dir: Flags.string({ char: 'd', default: 'policies', description: 'the policies directory inside the repository', helpValue: 'dir' }),
    'bundle-path': Flags.string({ default: DEFAULT_BUNDLE_PATH, description: 'the committed bundle inside the repository (the gateway\'s policy.git.path)', helpValue: 'path' }),
    label: Flags.string({ char: 'l', multiple: true, description: 'a label the agent had, key=value (repeatable): the ledger does not record labels', helpValue: 'key=value' }),
  };

  public async run(): Promise<ExplainReport> {
    const { args, flags } = await this.parse(Explain);
    const { explainRecordedCall } = await import('../explain/recorded-call-explainer.js');
    const report = await explainRecordedCall({
      cwd: process.cwd(),
      callId: args.call_id,
      dataDir: flags['data-dir'],
      dir: flags.dir,
      bundlePath: flags['bundle-path'],
      labels: flags.label ?? [],
      ...(flags['database-url'] !== undefined ? { databaseUrl: flags['database-url'] } : {}),
      ...(flags.repo !== undefined ? { repo: flags.repo } : {}),
    });
    if (!this.jsonEnabled()) {
      const { renderExplainPretty } = await import('../explain/explain-report-renderer.js');
      const { shouldColour, terminalStyle } = await import('../render/terminal-style.js');
      process.stdout.write(renderExplainPretty(report, terminalStyle(shouldColour(process.stdout))));
    }
    return report;
  }
}
