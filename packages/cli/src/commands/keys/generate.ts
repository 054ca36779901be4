import { Flags } from '@oclif/core';
import { TollgateCommand } from '../../base-command.js';
import type { GeneratedKeyFiles } from '../../bundle/signing-key-files.js';

/**
 * `tollgate keys generate --out <prefix>`: writes an Ed25519 key pair for signing bundles
 * (and ledger checkpoints). The work is `writeSigningKeyFiles`.
 */
export default class KeysGenerate extends TollgateCommand {
  static override summary = 'Generate an Ed25519 key pair for signing policy bundles and ledger checkpoints.';

  static override description = `Writes <prefix>.key (the private key, PEM PKCS#8, file mode 0600) and <prefix>.pub (the public key, PEM SPKI), and prints the key id: the hex SHA-256 of the public key's DER encoding, which bundles and gateway trust configurations name signers by.

Keep the .key secret (a CI secret such as TOLLGATE_SIGNING_KEY, never committed); give the .pub to every gateway and verifier that should trust the key. An existing key is never overwritten unless --force.

Exit status: 0 written, 2 the files exist (without --force) or cannot be written.`;

  static override examples = ['<%= config.bin %> keys generate --out keys/release', '<%= config.bin %> keys generate --out keys/release --force --json'];

  static override flags = {
    out: Flags.string({ char: 'o', required: true, helpValue: '<prefix>', description: 'write <prefix>.key and <prefix>.pub' }),
    force: Flags.boolean({ default: false, description: 'replace an existing key pair at that prefix' }),
  };

  public async run(): Promise<GeneratedKeyFiles> {
    const { flags } = await this.parse(KeysGenerate);
    const { writeSigningKeyFiles } = await import('../../bundle/signing-key-files.js');
    const { renderGeneratedKey } = await import('../../bundle/bundle-report-renderer.js');
    const result = await writeSigningKeyFiles(flags.out, { force: flags.force });
    if (!this.jsonEnabled()) process.stdout.write(renderGeneratedKey(result));
    return result;
  }
}
