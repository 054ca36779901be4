import { describe, expect, it } from 'vitest';
import { ArgumentRedactor, REDACTED, parsePointer } from './argument-redactor.js';

describe('ArgumentRedactor', () => {
  const args = { a: { b: 'secret', c: 'kept' }, list: [{ k: 1 }, { k: 2 }], 'x/y': 1, 'm~n': 2, top: 'x' };

  it('replaces the values at JSON pointers, leaving the input untouched', () => {
    const redactor = new ArgumentRedactor([{ pointers: ['/a/b', '/list/1/k', '/x~1y', '/m~0n'] }]);
    expect(redactor.redact('s', 't', args)).toEqual({ a: { b: REDACTED, c: 'kept' }, list: [{ k: 1 }, { k: REDACTED }], 'x/y': REDACTED, 'm~n': REDACTED, top: 'x' });
    expect(args.a.b).toBe('secret');
  });

  it('matches every key or element with *', () => {
    expect(new ArgumentRedactor([{ pointers: ['/list/*/k'] }]).redact(null, null, args)).toMatchObject({ list: [{ k: REDACTED }, { k: REDACTED }] });
    expect(new ArgumentRedactor([{ pointers: ['/a/*'] }]).redact(null, null, args)).toMatchObject({ a: { b: REDACTED, c: REDACTED } });
  });

  it('redacts the whole arguments with the empty pointer', () => {
    expect(new ArgumentRedactor([{ pointers: [''] }]).redact(null, null, args)).toBe(REDACTED);
  });

  it('applies a rule only to its server and tool', () => {
    const redactor = new ArgumentRedactor([{ server: 'ccxt', tool: 'withdraw', pointers: ['/top'] }]);
    expect(redactor.redact('ccxt', 'withdraw', args)).toMatchObject({ top: REDACTED });
    expect(redactor.redact('ccxt', 'other', args)).toBe(args);
    expect(redactor.redact('other', 'withdraw', args)).toBe(args);
  });

  it('ignores pointers that lead nowhere and returns the same object', () => {
    const redactor = new ArgumentRedactor([{ pointers: ['/missing', '/list/7/k', '/list/x', '/top/deeper'] }]);
    expect(redactor.redact(null, null, args)).toBe(args);
  });

  it('refuses malformed pointers and rules, naming them', () => {
    expect(() => parsePointer('a/b')).toThrow(/"a\/b": a JSON pointer starts with "\/"/);
    expect(() => parsePointer('/a~2')).toThrow(/"~" must be escaped as "~0"/);
    expect(() => new ArgumentRedactor([{ tool: '', pointers: ['/a'] }])).toThrow(/redaction rule \[0\]: "tool" must be a non-empty string/);
  });
});
