/**
 * A length of time for verify's messages: `750 ms`, `42 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`.
 *
 * @example
 * spellDuration(200_000) // '3 min 20 s'
 */
export function spellDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const [d, h, m, sec] = [Math.floor(seconds / 86_400), Math.floor(seconds / 3600) % 24, Math.floor(seconds / 60) % 60, seconds % 60];
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return sec > 0 ? `${m} min ${sec} s` : `${m} min`;
}

/** A grace for messages: whole seconds spelled out, anything else in milliseconds. */
export function spellGrace(ms: number): string {
  return ms % 1000 === 0 ? spellDuration(ms) : `${ms} ms`;
}
