import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../../base-command.js';
import type { InterceptImportReport } from '../../import/intercept-import-task.js';

/**
 * `tollgate import intercept <file.yaml|dir>`: turns Intercept policies into Tollgate policies
 * and reports what each rule became and every semantic difference. Exit 0 exact, 1 something
 * was not carried over exactly, 2 an input error. The work is `importInterceptFiles`.
 */
export default class ImportIntercept extends TollgateCommand {
  static override summary = "Import policies written for PolicyLayer's Intercept gateway.";

  static override description = `Reads an Intercept policy (YAML: tools.<tool>.rules[] with conditions, state counters, rate_limit, "*" wildcard rules, hide and default) and writes the equivalent Tollgate policy as JSON in the canonical layout of tollgate fmt.

For one file the server is --server, else the file's name (stripe.yaml is stripe; for policy.yaml, its directory's name), and the policy goes to --out, default policies/<server>/policy.json. For a directory every .yaml/.yml file in it is imported, each to <out>/<server>/policy.json (--out default: policies).

The report lists each Intercept rule and what it became (require, deny_if, limits, all_tools, action, hide, default) and every semantic difference the import could not avoid, by name (see docs/migrating-from-intercept.md). Everything is checked before anything is written; an existing policy is only replaced with --force.

Exit status: 0 imported exactly, 1 imported with differences, 2 the input is malformed or invalid (file:line:col), or the output exists.`;

  static override usage = 'import intercept <FILE.yaml|DIR> [--out <path>] [--server <name>] [--force] [--json]';

  static override examples = [
    '<%= config.bin %> import intercept intercept/stripe.yaml',
    '<%= config.bin %> import intercept policy.yaml --server github --out policies/github/policy.json',
    '<%= config.bin %> import intercept intercept/ --json',
  ];

  static override args = {
    input: Args.string({ required: true, description: 'an Intercept policy file, or a directory of them' }),
  };

  static override flags = {
    out: Flags.string({ char: 'o', helpValue: '<path>', description: 'the policy file to write (one file), or the policies directory (a directory)' }),
    server: Flags.string({ helpValue: '<name>', description: 'the server the policy is for (default: from the file name)' }),
    force: Flags.boolean({ default: false, description: 'replace existing policy files' }),
  };

  public async run(): Promise<InterceptImportReport> {
    const { args, flags } = await this.parse(ImportIntercept);
    const { importInterceptFiles, interceptImportExitCode, renderInterceptImport } = await import('../../import/intercept-import-task.js');
    const report = await importInterceptFiles(args.input, { cwd: process.cwd(), out: flags.out, server: flags.server, force: flags.force });
    if (!this.jsonEnabled()) process.stdout.write(renderInterceptImport(report));
    process.exitCode = interceptImportExitCode(report);
    return report;
  }
}
