import type { BundleBuildResult } from './bundle-build-task.js';
import type { BundleSignResult } from './bundle-sign-task.js';
import type { BundleSummary } from './bundle-summary.js';
import type { BundleVerifyResult } from './bundle-verify-task.js';
import type { GeneratedKeyFiles } from './signing-key-files.js';

type Rows = ReadonlyArray<readonly [string, string]>;

function rows(pairs: Rows): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

function commitText(commit: string | null, dirty: boolean): string {
  if (commit === null) return 'none (not built from a Git commit)';
  return dirty ? `${commit} (with uncommitted changes: git_dirty)` : commit;
}

/** The rows every report of a bundle shows, with a report's own rows after the commit and after the servers. */
function summaryRows(summary: BundleSummary, afterCommit: Rows, afterServers: Rows): string {
  return rows([
    ['revision', String(summary.revision)],
    ['commit', commitText(summary.git_commit, summary.git_dirty)],
    ...afterCommit,
    ['servers', summary.servers.join(', ')],
    ...afterServers,
    ['tests', `${summary.tests.passed} passed, ${summary.tests.failed} failed`],
    ['expires', summary.expires_at ?? 'never'],
    ['digest', summary.digest],
  ]);
}

/** The pretty output of `tollgate keys generate`. */
export function renderGeneratedKey(result: GeneratedKeyFiles): string {
  return `Wrote ${result.private_key_file} (private key, mode 0600: keep it secret) and ${result.public_key_file} (public key: give it to verifiers)\nkey id: ${result.keyid}\n`;
}

/** The pretty output of `tollgate bundle build`. */
export function renderBuiltBundle(result: BundleBuildResult): string {
  return `Built ${result.file} (unsigned; sign it with tollgate bundle sign ${result.file} --key <prefix>.key)\n${summaryRows(result, [], [['files', String(result.files.length)]])}\n`;
}

/** The pretty output of `tollgate bundle sign`. */
export function renderSignedBundle(result: BundleSignResult): string {
  const others = result.signatures.length - 1;
  return `Signed ${result.file} (revision ${result.revision}) with key ${result.keyid}${result.replaced ? ', replacing its earlier signature' : ''}\n${others > 0 ? `${result.signatures.length} signatures: ${result.signatures.join(', ')}` : '1 signature'}\n`;
}

/** The pretty output of `tollgate bundle verify`, accepted or refused. */
export function renderVerifiedBundle(result: BundleVerifyResult): string {
  if (!result.ok) {
    const r = result.refusal;
    const about = r.revision === null ? '' : ` (revision ${r.revision})`;
    return `Refused ${result.file}${about}: ${r.code}\n  ${r.message.split('\n').join('\n  ')}\n`;
  }
  return `Verified ${result.file}\n${summaryRows(result, [
    ['signers', `${result.signers.map((s) => `${s.keyid}${s.file ? ` (${s.file})` : ''}`).join(', ')} (${result.signers.length} signed, ${result.threshold} required)`],
  ], [])}\n`;
}
