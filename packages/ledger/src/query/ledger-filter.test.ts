import { describe, expect, it } from 'vitest';
import { parseLedgerTime } from './ledger-filter.js';

const NOW = new Date('2030-06-15T12:00:00.000Z');

describe('parseLedgerTime', () => {
  it('reads ISO dates and times, UTC unless a zone is given', () => {
    expect(parseLedgerTime('2030-05-01', NOW).toISOString()).toBe('2030-05-01T00:00:00.000Z');
    expect(parseLedgerTime('2030-05-01T09:30:00', NOW).toISOString()).toBe('2030-05-01T09:30:00.000Z');
    expect(parseLedgerTime('2030-05-01 09:30', NOW).toISOString()).toBe('2030-05-01T09:30:00.000Z');
    expect(parseLedgerTime('2030-05-01T09:30:00+02:00', NOW).toISOString()).toBe('2030-05-01T07:30:00.000Z');
    expect(parseLedgerTime('2030-05-01T09:30:00.250Z', NOW).toISOString()).toBe('2030-05-01T09:30:00.250Z');
  });

  it('reads now and durations before now', () => {
    expect(parseLedgerTime('now', NOW)).toEqual(NOW);
    expect(parseLedgerTime('90s', NOW).toISOString()).toBe('2030-06-15T11:58:30.000Z');
    expect(parseLedgerTime('15m', NOW).toISOString()).toBe('2030-06-15T11:45:00.000Z');
    expect(parseLedgerTime('24h', NOW).toISOString()).toBe('2030-06-14T12:00:00.000Z');
    expect(parseLedgerTime('7d', NOW).toISOString()).toBe('2030-06-08T12:00:00.000Z');
    expect(parseLedgerTime('2w', NOW).toISOString()).toBe('2030-06-01T12:00:00.000Z');
  });

  it('refuses anything else, saying what it accepts', () => {
    for (const bad of ['yesterday', '2030-13-45', '10 minutes', '', '-5m']) {
      expect(() => parseLedgerTime(bad, NOW, '--from')).toThrow(/--from ".*" is not a time: use ISO 8601/);
    }
  });
});
