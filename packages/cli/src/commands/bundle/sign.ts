import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../../base-command.js';
import type { BundleSignResult } from '../../bundle/bundle-sign-task.js';

/** `tollgate bundle sign <file> --key <prefix>.key`: adds a signature. The work is `signBundleFile`. */
export default class BundleSign extends TollgateCommand {
  static override summary = 'Sign a policy bundle with an Ed25519 key (adds or replaces that key\'s signature).';

  static override description = `Signs the bundle's canonical manifest (which binds every file through its SHA-256) with the private key and rewrites the file atomically. Several signers may sign the same bundle, one after another; signing again with the same key replaces its signature. A bundle whose content no longer matches its manifest is not signed.

Without --key, the key's PEM text is read from the environment variable TOLLGATE_SIGNING_KEY (a CI secret), so it never touches the disk.

Exit status: 0 signed, 2 an unreadable, malformed or altered bundle, or an unreadable or non-Ed25519 key.`;

  static override examples = ['<%= config.bin %> bundle sign bundles/bundle.json --key keys/release.key', 'TOLLGATE_SIGNING_KEY="$(cat keys/release.key)" <%= config.bin %> bundle sign bundles/bundle.json --json'];

  static override args = {
    file: Args.string({ required: true, description: 'the bundle file' }),
  };

  static override flags = {
    key: Flags.string({ char: 'k', helpValue: '<prefix>.key', description: 'the Ed25519 private key file (PEM PKCS#8), as `tollgate keys generate` writes it; default: the PEM text in TOLLGATE_SIGNING_KEY' }),
  };

  public async run(): Promise<BundleSignResult> {
    const { args, flags } = await this.parse(BundleSign);
    const { signBundleFile, signingKeySource } = await import('../../bundle/bundle-sign-task.js');
    const { renderSignedBundle } = await import('../../bundle/bundle-report-renderer.js');
    const result = await signBundleFile(args.file, signingKeySource(flags.key));
    if (!this.jsonEnabled()) process.stdout.write(renderSignedBundle(result));
    return result;
  }
}
