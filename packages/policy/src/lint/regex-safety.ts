import { createRequire } from 'node:module';
import type { Diagnostics as RecheckDiagnostics, Parameters as RecheckParameters } from 'recheck';

/**
 * ReDoS analysis of a policy's patterns (TG101) with recheck, loaded on first use: it is
 * large, and most commands never need it. Verdicts are cached per pattern, flags and timeout.
 */

/** How long recheck may analyse one pattern by default. */
export const DEFAULT_REGEX_TIMEOUT_MS = 5000;

type CheckSync = (source: string, flags: string, params?: RecheckParameters) => RecheckDiagnostics;
let checkSync: CheckSync | undefined;
const regexVerdicts = new Map<string, RegexVerdict>();
const MAX_CACHED_VERDICTS = 512;

export interface RegexVerdict {
  readonly status: 'safe' | 'vulnerable' | 'unknown';
  readonly complexity?: string;
  readonly attack?: string;
  readonly reason?: string;
}

/** Whether matching the pattern can take super-linear time, and an input that shows it. */
export function analyseRegex(source: string, flags: string, timeoutMs: number): RegexVerdict {
  const key = `${flags}\u0000${timeoutMs}\u0000${source}`;
  const cached = regexVerdicts.get(key);
  if (cached) return cached;
  let verdict: RegexVerdict;
  try {
    checkSync ??= (createRequire(import.meta.url)('recheck') as { checkSync: CheckSync }).checkSync;
    const r = checkSync(source, flags, { timeout: timeoutMs });
    if (r.status === 'vulnerable') {
      verdict = { status: 'vulnerable', complexity: r.complexity.summary, attack: describeAttack(r.attack) };
    } else if (r.status === 'unknown') {
      verdict = { status: 'unknown', reason: r.error.kind === 'timeout' ? `the analysis timed out after ${timeoutMs} ms` : `${r.error.kind}${'message' in r.error ? `: ${r.error.message}` : ''}` };
    } else {
      verdict = { status: 'safe' };
    }
  } catch (error) {
    verdict = { status: 'unknown', reason: `the analyser failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (regexVerdicts.size >= MAX_CACHED_VERDICTS) regexVerdicts.delete(regexVerdicts.keys().next().value!);
  regexVerdicts.set(key, verdict);
  return verdict;
}

function describeAttack(attack: { pattern?: string; string: string }): string {
  // recheck's `pattern` is a compact, escaped JS expression such as 'a' + 'a'.repeat(31) + '\x00'.
  if (typeof attack.pattern === 'string' && attack.pattern.length > 0 && attack.pattern.length <= 160) return attack.pattern;
  const s = JSON.stringify(attack.string.length > 60 ? attack.string.slice(0, 60) : attack.string);
  return attack.string.length > 60 ? `${s}… (${attack.string.length} characters)` : s;
}
