import { Flags } from '@oclif/core';
import type { CheckpointResult } from '@tollgate/ledger';
import { TollgateCommand } from '../../base-command.js';
import { ledgerConnectionFlags, withLedger } from '../../ledger/ledger-command-support.js';
import { renderCheckpoint } from '../../ledger/ledger-report-renderer.js';

/**
 * `tollgate ledger checkpoint`: sign the head of every strand. The work is `createCheckpoint`
 * of @tollgate/ledger.
 */
export default class LedgerCheckpoint extends TollgateCommand {
  static override summary = 'Sign (Ed25519) the head of every strand; store the checkpoint in the ledger and, with --out, in a file.';

  static override description = `A checkpoint records each strand's last sequence number and hash, signed with your Ed25519 key. \`tollgate ledger verify\` then proves every strand still begins with what was signed: an event changed, removed or cut off since shows up.

Keep the --out file outside the database (commit it to the policy repository, for example): against someone who controls the database, only a copy they cannot reach is evidence.

Exit status: 0 signed, 2 an unreadable or non-Ed25519 key, an unwritable file or an unreachable database.`;

  static override examples = [
    '<%= config.bin %> ledger checkpoint --key keys/ledger.key --out ledger/checkpoints/2030-05-01.json',
  ];

  static override flags = {
    ...ledgerConnectionFlags,
    key: Flags.string({ required: true, description: 'the Ed25519 private key (PEM PKCS#8), as `tollgate keys generate` writes it', helpValue: '<prefix>.key' }),
    out: Flags.string({ char: 'o', description: 'also write the signed checkpoint to this file', helpValue: 'file' }),
  };

  public async run(): Promise<CheckpointResult> {
    const { flags } = await this.parse(LedgerCheckpoint);
    const { createCheckpoint } = await import('@tollgate/ledger');
    const out = flags.out;
    const result = await withLedger(flags, (connection) => createCheckpoint(connection, out === undefined ? { keyFile: flags.key } : { keyFile: flags.key, outFile: out }));
    this.log(renderCheckpoint(result).trimEnd());
    return result;
  }
}
