/**
 * "Did you mean …?" for names a user mistyped: schema keys, operators, commands, flags.
 *
 * `closestName` returns the candidate nearest to `input` by edit distance (optimal string
 * alignment: insertions, deletions, substitutions and swaps of two neighbouring characters,
 * case-insensitive), when it is near enough to be the likely intent — at most one edit for
 * names of up to four characters, two up to eight, three beyond — or the candidate that
 * `synonyms` names for `input` (e.g. `greater` → `gt`), which wins over the distance. Ties go
 * to the candidate listed first. Nothing is returned for an exact match or when no candidate
 * is close: a suggestion must be worth reading.
 *
 * @example
 * closestName('deny_iff', ['require', 'deny_if', 'approve_if']); // 'deny_if'
 * closestName('greater', OPERATORS, { greater: 'gt' });            // 'gt'
 * closestName('banana', ['lint', 'test']);                         // undefined
 */
export function closestName(input: string, candidates: readonly string[], synonyms: Readonly<Record<string, string>> = {}): string | undefined {
  if (candidates.includes(input)) return undefined;
  const folded = input.toLowerCase();
  const synonym = Object.hasOwn(synonyms, folded) ? synonyms[folded] : undefined;
  if (synonym !== undefined && candidates.includes(synonym)) return synonym;
  const budget = folded.length <= 4 ? 1 : folded.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = budget + 1;
  for (const candidate of candidates) {
    const distance = editDistance(folded, candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal-string-alignment distance of `a` and `b`, or `limit` once it is certain to be at least that. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current[j] = d;
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin >= limit) return limit;
    before = previous;
    previous = current;
  }
  return Math.min(previous[b.length]!, limit);
}

/**
 * Words people write for the policy language's operators, each mapped to the operator meant:
 * `closestName`'s synonyms for a condition's `op`.
 */
export const OPERATOR_SYNONYMS: Readonly<Record<string, string>> = Object.freeze({
  '=': 'eq', '==': 'eq', '===': 'eq', equals: 'eq', equal: 'eq',
  '!=': 'neq', '!==': 'neq', '<>': 'neq', ne: 'neq', not_eq: 'neq', not_equal: 'neq', not_equals: 'neq',
  '<': 'lt', less: 'lt', less_than: 'lt', lower: 'lt', below: 'lt',
  '<=': 'lte', le: 'lte', less_or_equal: 'lte', less_than_or_equal: 'lte', at_most: 'lte',
  '>': 'gt', greater: 'gt', greater_than: 'gt', more: 'gt', more_than: 'gt', above: 'gt', over: 'gt',
  '>=': 'gte', ge: 'gte', greater_or_equal: 'gte', greater_than_or_equal: 'gte', at_least: 'gte',
  one_of: 'in', any_of: 'in', oneof: 'in', within: 'in',
  nin: 'not_in', not_one_of: 'not_in', none_of: 'not_in', notin: 'not_in',
  exist: 'exists', present: 'exists', has: 'exists', defined: 'exists', is_set: 'exists',
  match: 'regex', matches: 'regex', regexp: 'regex', re: 'regex', pattern: 'regex', like: 'regex',
  includes: 'contains', include: 'contains', has_item: 'contains', substring: 'contains',
});
