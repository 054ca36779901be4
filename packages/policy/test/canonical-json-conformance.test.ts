import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDigest, canonicalJson } from '../src/index.js';

// `canonicalize` is the RFC 8785 implementation by one of the RFC's authors. Tollgate keeps
// its own (docs/dependencies.md says why); these tests hold the two to the same bytes, since
// ledger hashes and approval digests depend on them.

/** Doubles including the edges of ECMAScript's number formatting. */
const number = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(0, -0, 1e21, 1e-7, 1e-6, 5e-324, -5e-324, 2 ** 53, -(2 ** 53) - 2, Number.MAX_VALUE, Number.MIN_VALUE, 0.1 + 0.2, 123456789012345680000, 4.35, 1e300, 333333333.3333333),
);
/** Well-formed strings of every plane: controls, quotes, backslashes, U+2028, astral pairs. */
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('', '\u0000\u001f\u007f', '"\\/', '\u2028\u2029', '€', '\uD83D\uDE00', 'é', '\uFFFF'));
const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    number,
    text,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(text, tie('value'), { maxKeys: 6 }),
  ),
})).value;

describe('canonicalJson (RFC 8785)', () => {
  it('gives the same bytes as the canonicalize package on random JSON', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the same bytes on documents parsed from JSON text, as the gateway hashes them', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed: unknown = JSON.parse(JSON.stringify(value));
        expect(canonicalJson(parsed)).toBe(canonicalize(parsed));
      }),
      { numRuns: 1000 },
    );
  });

  it('prints the RFC 8785 appendix B numbers as the RFC does', () => {
    const cases: Array<[number, string]> = [
      [0, '0'], [-0, '0'], [5e-324, '5e-324'], [-5e-324, '-5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9007199254740992, '9007199254740992'], [295147905179352830000, '295147905179352830000'], [1e21, '1e+21'],
      [1e-7, '1e-7'], [0.000001, '0.000001'], [333333333.3333333, '333333333.3333333'], [-1e23, '-1e+23'],
    ];
    for (const [value, printed] of cases) expect(canonicalJson(value)).toBe(printed);
  });

  it('sorts keys by UTF-16 code units and escapes only what JSON requires', () => {
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, '\uD83D\uDE00': 3, '\u0080': 4, '1': 5, '\u00f6': 6 })).toBe('{"\\r":2,"1":5,"\u0080":4,"\u00f6":6,"\u20ac":1,"\uD83D\uDE00":3}');
    expect(canonicalJson({ s: '\u0000\u0008\t\n\f\r\u001f"\\/\u007f\u2028' })).toBe('{"s":"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/\u007f\u2028"}');
  });

  it('keeps the digests recorded in ledgers and approvals', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x', 1e21, -0] })).toBe('{"a":[true,null,"x",1e+21,0],"b":1}');
    // sha256 of the bytes {"amount":0.5,"symbol":"BTC/USDT"}, as `printf %s … | sha256sum` prints it.
    expect(canonicalDigest({ symbol: 'BTC/USDT', amount: 0.5 })).toBe('7643d0cf4e6d185b8196219430d2e7f4efdacabaaabb22a4e9421030246c2579');
  });

  it('differs from canonicalize only where Tollgate must not drop or refuse what an agent sent', () => {
    // A lone surrogate can arrive in a call's arguments: it is escaped (as JSON.stringify
    // does), so the call is still hashed and recorded; canonicalize refuses it.
    expect(canonicalJson('a\uD800b')).toBe('"a\\ud800b"');
    expect(() => canonicalize('a\uD800b')).toThrow(/surrogate/i);
    // Values JSON cannot carry are refused, with where they are, never turned into null.
    expect(() => canonicalJson({ a: [1, undefined] })).toThrow(/\$\.a\[1\]/);
    expect(canonicalize({ a: [1, undefined] })).toBe('{"a":[1,null]}');
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
  });
});
