// Integer hashing behind every generated number of the demo exchange: the same seed and
// the same coordinates (symbol, time bucket, level) always give the same value, with no
// state to carry between calls.

const TWO_32 = 4294967296;

function mix32(value: number): number {
  // murmur3's 32-bit finalizer: full avalanche, cheap.
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function absorb(h: number, value: number): number {
  // Both halves of a number up to 2^53, so millisecond timestamps hash without collisions.
  h = mix32(h ^ (value >>> 0));
  return mix32(h ^ Math.floor(value / TWO_32));
}

/**
 * A uniform number in [0, 1) determined by `seed` and up to three integer coordinates.
 */
export function unitHash(seed: number, a: number, b = 0, c = 0): number {
  let h = mix32(seed ^ 0x9e3779b9);
  h = absorb(h, a);
  h = absorb(h, b);
  h = absorb(h, c);
  return h / TWO_32;
}

/** FNV-1a hash of a string, as an unsigned 32-bit integer. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
