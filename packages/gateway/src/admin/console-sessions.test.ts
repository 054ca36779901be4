import { describe, expect, it } from 'vitest';
import { ConsoleSessions } from './console-sessions.js';

const DESK_LEAD = { kind: 'approver', id: 'desk-lead', groups: ['desk-leads'] } as const;

describe('console sessions', () => {
  it('hands out a random 256-bit id, keeps only its digest, and finds the session by the id alone', () => {
    const sessions = new ConsoleSessions();
    const a = sessions.create(DESK_LEAD);
    const b = sessions.create(DESK_LEAD);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.id).not.toBe(b.id);
    expect(a.session.key).not.toContain(a.id);
    expect(sessions.get(a.id)?.identity).toEqual(DESK_LEAD);
    expect(sessions.get(a.session.key)).toBeUndefined();
    expect(sessions.get(`${a.id.slice(0, -1)}${a.id.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(sessions.get(undefined)).toBeUndefined();
    expect(sessions.get('')).toBeUndefined();
  });

  it('ends a session after its idle time, however often the clock is asked, and after its maximum age however active', () => {
    let now = 1_000_000;
    const sessions = new ConsoleSessions({ idleMs: 1000, maxAgeMs: 5000, clock: () => now });
    const { id } = sessions.create(DESK_LEAD);
    now += 999;
    expect(sessions.get(id)).toBeDefined();
    now += 999;
    expect(sessions.get(id)).toBeDefined();
    now += 1000;
    expect(sessions.get(id)).toBeUndefined();
    // Gone for good, even if time went back.
    now -= 2000;
    expect(sessions.get(id)).toBeUndefined();

    const active = sessions.create(DESK_LEAD);
    for (let i = 0; i < 5; i++) {
      now += 900;
      expect(sessions.get(active.id), `after ${(i + 1) * 900} ms`).toBeDefined();
    }
    now += 600;
    expect(sessions.get(active.id)).toBeUndefined();
  });

  it('checks the CSRF token in constant time: only the session\'s own', () => {
    const sessions = new ConsoleSessions();
    const a = sessions.create(DESK_LEAD).session;
    const b = sessions.create(DESK_LEAD).session;
    expect(sessions.checkCsrf(a, a.csrfToken)).toBe(true);
    expect(sessions.checkCsrf(a, b.csrfToken)).toBe(false);
    expect(sessions.checkCsrf(a, undefined)).toBe(false);
    expect(sessions.checkCsrf(a, '')).toBe(false);
    expect(sessions.checkCsrf(a, [a.csrfToken])).toBe(false);
    expect(sessions.checkCsrf(a, `${a.csrfToken}x`)).toBe(false);
  });

  it('keeps at most maxSessions: the least recently used one ends first, and listeners hear of every end', () => {
    const sessions = new ConsoleSessions({ maxSessions: 2 });
    const ended: string[] = [];
    sessions.onEnd((key) => ended.push(key));
    const first = sessions.create(DESK_LEAD);
    const second = sessions.create(DESK_LEAD);
    expect(sessions.get(first.id)).toBeDefined();
    const third = sessions.create(DESK_LEAD);
    expect(ended).toEqual([second.session.key]);
    expect(sessions.get(second.id)).toBeUndefined();
    expect(sessions.get(first.id)).toBeDefined();
    expect(sessions.get(third.id)).toBeDefined();
    sessions.end(first.session.key);
    sessions.end(first.session.key);
    expect(ended).toEqual([second.session.key, first.session.key]);
    expect(sessions.size).toBe(1);
  });
});
