import { describe, expect, it } from 'vitest';
import { sampleRegex } from './regex-sampler.js';

describe('sampleRegex', () => {
  it.each([
    ['^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}(:[A-Z0-9]{2,10})?$', ''],
    ['^bc1q[a-z0-9]{6,}$', ''],
    ['^(binance|kraken)$', ''],
    ['\\d+\\.\\d{2}', ''],
    ['^[^@\\s]+@example\\.com$', ''],
    ['^admin', 'i'],
    ['^(?:0x)?[0-9a-f]{40}$', 'i'],
  ])('derives a matching and a non-matching string for /%s/%s', (pattern, flags) => {
    const { matching, notMatching } = sampleRegex(pattern, flags);
    const re = new RegExp(pattern, flags);
    expect(matching.length).toBeGreaterThan(0);
    expect(notMatching.length).toBeGreaterThan(0);
    for (const m of matching) expect(re.test(m)).toBe(true);
    for (const n of notMatching) expect(re.test(n)).toBe(false);
  });

  it('derives the shortest string for simple patterns', () => {
    expect(sampleRegex('^[A-Z]{2,3}/USD$').matching[0]).toBe('AA/USD');
    expect(sampleRegex('^(binance|kraken)$').matching[0]).toBe('binance');
  });

  it('puts matching hints first and falls back to them for patterns it cannot derive', () => {
    expect(sampleRegex('^(a)\\1$', '', ['aa', 'b']).matching).toEqual(['aa']);
    expect(sampleRegex('^(?=.*x)x', '', ['xy']).matching).toEqual(['xy']);
    expect(sampleRegex('^[a-z]+$', '', ['kraken']).matching[0]).toBe('kraken');
  });

  it('returns nothing for an invalid pattern', () => {
    expect(sampleRegex('([')).toEqual({ matching: [], notMatching: [] });
  });
});
