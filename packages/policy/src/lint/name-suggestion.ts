import { distance } from 'fastest-levenshtein';

/**
 * The candidate closest to `name` by edit distance (Levenshtein, case-insensitive), when it is
 * close enough to be a typo: at most a third of the name's length, and at least two edits
 * allowed. Lint's "did you mean" for tool, argument and rule names.
 *
 * @example closestName('fetch_balanse', ['fetch_balance', 'cancel_order']) // 'fetch_balance'
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - name.length) >= bestDistance) continue;
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
