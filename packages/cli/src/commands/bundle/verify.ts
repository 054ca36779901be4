import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../../base-command.js';
import type { BundleVerifyResult } from '../../bundle/bundle-verify-task.js';

/** `tollgate bundle verify <file> --trust <a.pub>…`: checks a bundle as a gateway would. The work is `verifyBundleFile`. */
export default class BundleVerify extends TollgateCommand {
  static override summary = 'Verify a policy bundle as a gateway would: signatures, hashes, expiry, revision, schema and tests.';

  static override description = `Checks, in order: the bundle's shape; its signatures (at least --threshold distinct keys among the --trust public keys; a trusted key's signature that does not verify refuses the bundle); each file's SHA-256 against the manifest; expiry; the revision against --min-revision (rollback); that every policy, catalog and test file is schema-valid and every policy compiles; and that the bundle's own tests pass.

A refusal prints its code (signature.missing, signature.invalid, signature.untrusted, signature.threshold, bundle.hash_mismatch, bundle.expired, bundle.rollback, bundle.malformed, policy.invalid, tests.failed) and a precise message; see docs/bundles.md for each code's fix.

Exit status: 0 accepted, 1 refused, 2 an unreadable file, an invalid key, or a threshold above the number of trusted keys.`;

  static override examples = [
    '<%= config.bin %> bundle verify bundles/bundle.json --trust keys/release.pub',
    '<%= config.bin %> bundle verify bundles/bundle.json --trust a.pub --trust b.pub --trust c.pub --threshold 2 --min-revision 17',
  ];

  static override args = {
    file: Args.string({ required: true, description: 'the bundle file' }),
  };

  static override flags = {
    trust: Flags.string({ char: 't', required: true, multiple: true, helpValue: '<prefix>.pub', description: 'a public key (PEM SPKI) whose signatures count; repeat for several' }),
    threshold: Flags.integer({ min: 1, default: 1, helpValue: '<k>', description: 'how many distinct trusted keys must have signed' }),
    'min-revision': Flags.integer({ min: 0, helpValue: '<N>', description: 'refuse a bundle whose revision is lower (rollback protection)' }),
  };

  public async run(): Promise<BundleVerifyResult> {
    const { args, flags } = await this.parse(BundleVerify);
    const { verifyBundleFile } = await import('../../bundle/bundle-verify-task.js');
    const { renderVerifiedBundle } = await import('../../bundle/bundle-report-renderer.js');
    const result = await verifyBundleFile({
      file: args.file,
      trust: flags.trust,
      threshold: flags.threshold,
      ...(flags['min-revision'] !== undefined ? { minRevision: flags['min-revision'] } : {}),
    });
    if (!this.jsonEnabled()) process.stdout.write(renderVerifiedBundle(result));
    process.exitCode = result.ok ? 0 : 1;
    return result;
  }
}
