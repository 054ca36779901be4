import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../../base-command.js';
import type { BundleBuildResult } from '../../bundle/bundle-build-task.js';

/**
 * `tollgate bundle build [repo] --out <file>`: builds an unsigned policy bundle from a
 * repository's working tree. The work is `buildBundleFile`.
 */
export default class BundleBuild extends TollgateCommand {
  static override summary = 'Build a policy bundle from a repository: policies, catalogs and tests, canonical and hashed.';

  static override description = `Reads every policies/<server>/policy.json|yaml|yml, catalog.json and *.test.json of REPO (default: the current directory), parses and validates each, compiles the policies, runs the tests, and writes one bundle file (tollgate.bundle/v1): a manifest (revision, Git commit, creation and expiry times, the SHA-256 of each file's RFC 8785 canonical JSON) and the files in canonical form. Sign it next with \`tollgate bundle sign\`.

The revision defaults to the number of commits of HEAD (git rev-list --count HEAD), which grows with every commit on the branch; the commit is HEAD. If the policy files differ from HEAD, the manifest records "git_dirty": true and a warning is printed. Outside Git, pass --revision.

A bundle built from a clean commit is created at the commit's time, so building the same commit with the same flags gives the same bundle (and the same signatures): re-running a signing workflow changes nothing, and anyone can rebuild a bundle to check it. Otherwise it is created now.

Exit status: 0 written, 1 a bundled test fails (nothing written), 2 a file is invalid (file:line:col), no revision can be found, or the bundle cannot be written (nothing written).`;

  static override examples = [
    '<%= config.bin %> bundle build --out bundles/bundle.json',
    '<%= config.bin %> bundle build ../policy-repo --out bundles/bundle.json --expires 30d',
    '<%= config.bin %> bundle build --out /tmp/bundle.json --revision 42 --json',
  ];

  static override args = {
    repo: Args.string({ description: 'the policy repository (default: the current directory)', default: '.' }),
  };

  static override flags = {
    out: Flags.string({ char: 'o', required: true, helpValue: '<file>', description: 'where to write the bundle (atomically)' }),
    revision: Flags.integer({ min: 0, helpValue: '<N>', description: 'the bundle revision (default: the commit count of HEAD); gateways refuse revisions below the active one' }),
    expires: Flags.string({ helpValue: '<30d|ISO time|never>', description: 'when gateways stop accepting the bundle: a duration after its creation (30d, 12h), an ISO 8601 time, or never (default)' }),
  };

  public async run(): Promise<BundleBuildResult> {
    const { args, flags } = await this.parse(BundleBuild);
    const { buildBundleFile } = await import('../../bundle/bundle-build-task.js');
    const { renderBuiltBundle } = await import('../../bundle/bundle-report-renderer.js');
    const { progressReporter } = await import('../../render/progress-reporter.js');
    const progress = progressReporter({ json: this.jsonEnabled() });
    const result = await buildBundleFile({
      onProgress: progress.step,
      repo: args.repo,
      out: flags.out,
      ...(flags.revision !== undefined ? { revision: flags.revision } : {}),
      ...(flags.expires !== undefined ? { expires: flags.expires } : {}),
    }).finally(() => progress.stop());
    for (const warning of result.warnings) process.stderr.write(`Warning: ${warning}\n`);
    if (!this.jsonEnabled()) process.stdout.write(renderBuiltBundle(result));
    return result;
  }
}
