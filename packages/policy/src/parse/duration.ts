import { PolicyError } from '../diagnostic.js';

/**
 * Parses a duration such as "30s", "10m", "2h", "1d" or "500ms" into milliseconds: the grammar
 * of the schemas' duration strings (policy `timeout`, the gateway configuration, bundle
 * expiry), a positive whole number and one unit, nothing else (no fractions, signs or bare
 * numbers; see docs/dependencies.md).
 *
 * @throws PolicyError `duration.invalid`
 * @example
 * parseDuration('10m') // 600000
 */
export function parseDuration(text: string): number {
  const m = /^([1-9][0-9]*)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new PolicyError('duration.invalid', `"${text}" is not a duration like "30s", "10m", "2h" or "1d"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
