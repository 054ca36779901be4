import { describe, expect, it } from 'vitest';
import { newEventId } from './event-id.js';

describe('newEventId', () => {
  it('makes RFC 9562 version 7 UUIDs carrying the time', () => {
    const id = newEventId(Date.parse('2030-01-01T00:00:00.000Z'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBeGreaterThanOrEqual(Date.parse('2030-01-01T00:00:00.000Z'));
  });

  it('orders ids made in the same millisecond by creation, without repeats', () => {
    const now = Date.parse('2031-01-01T00:00:00.000Z');
    const ids = Array.from({ length: 10_000 }, () => newEventId(now));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
