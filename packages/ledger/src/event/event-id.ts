import { randomUUID } from 'node:crypto';

let lastMs = -1;
let counter = 0;
let prefix = '';

/**
 * A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter that keeps ids
 * made by this process in creation order within one millisecond, then random bits (taken
 * from a v4 UUID, whose variant bits are already right). Time-ordered ids keep the
 * primary-key index append-mostly under load.
 */
export function newEventId(now: number = Date.now()): string {
  if (now > lastMs) {
    setMillisecond(now);
  } else if (++counter > 0xfff) {
    // More than 4096 ids in one millisecond: borrow the next millisecond to stay ordered.
    setMillisecond(lastMs + 1);
  }
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx
  return `${prefix}${counter.toString(16).padStart(3, '0')}${random.slice(18)}`;
}

function setMillisecond(ms: number): void {
  lastMs = ms;
  counter = 0;
  const time = ms.toString(16).padStart(12, '0');
  prefix = `${time.slice(0, 8)}-${time.slice(8, 12)}-7`;
}
