import { describe, expect, it } from 'vitest';
import { SignInLimiter } from './sign-in-limiter.js';

describe('sign-in limiter', () => {
  it('lets a client fail maxFailures times per window, then makes it wait until the window ends', () => {
    let now = 120_000;
    const limiter = new SignInLimiter({ maxFailures: 3, windowMs: 60_000, clock: () => now });
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfter('10.0.0.1')).toBe(0);
      limiter.failed('10.0.0.1');
    }
    expect(limiter.retryAfter('10.0.0.1')).toBe(60);
    expect(limiter.retryAfter('10.0.0.2')).toBe(0);
    now += 45_500;
    expect(limiter.retryAfter('10.0.0.1')).toBe(15);
    now = 180_000;
    expect(limiter.retryAfter('10.0.0.1')).toBe(0);
  });

  it('stays bounded: past maxClients, new addresses share one count', () => {
    const limiter = new SignInLimiter({ maxFailures: 2, maxClients: 2, clock: () => 0 });
    limiter.failed('a');
    limiter.failed('b');
    limiter.failed('c');
    expect(limiter.retryAfter('d')).toBe(0);
    limiter.failed('d');
    expect(limiter.retryAfter('e')).toBeGreaterThan(0);
    expect(limiter.retryAfter('a')).toBe(0);
  });
});
