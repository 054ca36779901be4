import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../base-command.js';
import type { ScaffoldResult } from '../scaffold/repository-scaffolder.js';
import { connectFlags } from '../scaffold/connect-flags.js';

/**
 * `tollgate init [dir]`: scaffolds a policy repository. The work is done by
 * `scaffoldPolicyRepository`.
 */
export default class Init extends TollgateCommand {
  static override summary = 'Scaffold a policy repository: policies, catalog, tests, the review workflow and key instructions.';

  static override description = `Writes into DIR (default: the current directory):
  policies/<server>/catalog.json, policy.json, <server>.test.json
  .github/workflows/policy-review.yml   the Tollgate GitHub Action (--action): lint, test and diff on pull requests; build, sign and commit the bundle on main
  bundles/                             where CI commits the signed bundle.json the gateway reads
  README.md                            how to work on the policies, and how to make the signing key and the TOLLGATE_SIGNING_KEY secret
  .gitignore                           *.key, .tollgate/
and runs git init when DIR is not in a Git repository.

With --from-server, the server's catalog is pulled and the policy is a recommended starter policy from its tools' risk classes: reads allowed, writes rate-limited, execute, destructive and financial tools behind a human approval, everything else denied; with one test per tool. Without it, an "example" server with an empty catalog and a default-deny policy. The result passes tollgate lint and tollgate test as written.

Files that exist with other content are refused (nothing is written) unless --force. Exit status: 0 written, 2 a conflict, an unreachable server, or a write error.`;

  static override usage = 'init [DIR] [--from-server <command|url>] [--server-name <name>] [--action <owner/repo@ref>] [--force] [--json]';

  static override examples = [
    '<%= config.bin %> init my-policies',
    '<%= config.bin %> init my-policies --from-server "node packages/demo-exchange/dist/main.js" --server-name ccxt',
    '<%= config.bin %> init . --from-server http://127.0.0.1:9000/mcp',
  ];

  static override args = {
    dir: Args.string({ description: 'the repository directory (created when missing)', default: '.' }),
  };

  static override flags = {
    'from-server': Flags.string({ char: 's', description: 'pull the catalog from this server (a command line, quoted, or an http(s):// URL) and write a starter policy', helpValue: '<command|url>' }),
    'server-name': Flags.string({ char: 'n', description: 'the server\'s name, i.e. policies/<name>/ (default: the name the server reports, or "example")' }),
    force: Flags.boolean({ default: false, description: 'replace files that exist with other content' }),
    action: Flags.string({
      description: 'the Tollgate GitHub Action the review workflow uses, owner/repo@ref (default: this repository at the tag of this version, e.g. tollgate-project/tollgate@v0.1.0)',
      helpValue: '<owner/repo@ref>',
    }),
    'cli-package': Flags.string({ description: 'an npm package spec or tarball URL the action installs the tollgate CLI from (default: the action builds the CLI of its own ref)', helpValue: '<spec>' }),
    ...connectFlags,
  };

  public async run(): Promise<ScaffoldResult> {
    const { args, flags } = await this.parse(Init);
    const { scaffoldPolicyRepository } = await import('../scaffold/repository-scaffolder.js');
    const { checkServerName } = await import('../scaffold/server-target.js');
    const { parseHeaders } = await import('../scaffold/connect-flags.js');
    const { checkActionRef, defaultActionRef } = await import('../scaffold/policy-review-workflow.js');
    const { CliError, ExitCode } = await import('../cli-error.js');
    const { resolve } = await import('node:path');
    let action: string;
    try {
      action = checkActionRef(flags.action ?? defaultActionRef(this.config.version));
    } catch (error) {
      throw new CliError('usage', `--action: ${(error as Error).message}`, { exit: ExitCode.input, hint: 'Give the action as a workflow names it in uses:, e.g. my-org/tollgate@v0.1.0 for a fork.' });
    }
    const cwd = process.cwd();
    const { progressReporter } = await import('../render/progress-reporter.js');
    const progress = progressReporter({ json: this.jsonEnabled() });
    const result = await scaffoldPolicyRepository({
      onProgress: progress.step,
      dir: resolve(cwd, args.dir),
      cwd,
      timeoutMs: flags.timeout * 1000,
      headers: parseHeaders(flags.header),
      force: flags.force,
      action,
      ...(flags['cli-package'] !== undefined ? { cliPackage: flags['cli-package'] } : {}),
      ...(flags['from-server'] !== undefined ? { fromServer: flags['from-server'] } : {}),
      ...(flags['server-name'] !== undefined ? { serverName: checkServerName(flags['server-name'], '--server-name') } : {}),
    }).finally(() => progress.stop());
    if (!this.jsonEnabled()) {
      const { renderInit } = await import('../render/scaffold-report-renderer.js');
      const { writeStdout } = await import('../report-output.js');
      writeStdout(renderInit({ ...result, nextSteps: result.nextSteps.map((s) => (s === `cd ${resolve(cwd, args.dir)}` ? `cd ${args.dir}` : s)) }));
    }
    return result;
  }
}
