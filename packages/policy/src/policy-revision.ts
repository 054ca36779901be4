/**
 * A policy's revision: the monotonic `revision` of the signed bundle it came from (DESIGN §6),
 * or null for a policy read from a directory, which has none. Decisions, compiled policies
 * and bundle verifications carry it as this type.
 */
export type PolicyRevision = number | null;

/**
 * A revision as the ledger stores it (`policy_revision` is text, so other sources of
 * policies may use other revision schemes): the number in decimal, null stays null.
 *
 * @example revisionText(17) // '17'
 * @example revisionText(null) // null
 */
export function revisionText(revision: number): string;
export function revisionText(revision: PolicyRevision): string | null;
export function revisionText(revision: PolicyRevision): string | null {
  return revision === null ? null : String(revision);
}
