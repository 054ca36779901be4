import { describe, expect, it } from 'vitest';
import { ArgumentValidator, finiteCopy, nonFinitePaths } from './argument-validator.js';

const schema = {
  type: 'object',
  properties: {
    exchange_id: { type: 'string', enum: ['binance', 'kraken'] },
    amount: { type: 'number' },
    tags: { type: 'array', items: { type: 'string' } },
  },
  required: ['exchange_id', 'amount'],
  additionalProperties: false,
};

describe('argument validator', () => {
  it('accepts valid arguments and never coerces', () => {
    const v = new ArgumentValidator();
    expect(v.validate(schema, { exchange_id: 'binance', amount: 1 })).toEqual({ valid: true });
    const args = { exchange_id: 'binance', amount: '1' };
    const check = v.validate(schema, args);
    expect(check).toEqual({ valid: false, message: 'args.amount must be number', errors: ['args.amount must be number'] });
    expect(args.amount).toBe('1');
  });

  it('names every problem with its path', () => {
    const check = new ArgumentValidator().validate(schema, { exchange_id: 'ftx', tags: ['a', 2], extra: true });
    expect(check.valid).toBe(false);
    if (check.valid) return;
    expect(check.errors).toEqual([
      'args.amount is required',
      'args.extra is not an argument of this tool',
      'args.exchange_id must be one of "binance", "kraken"',
      'args.tags[1] must be string',
    ]);
  });

  it('treats missing arguments as an empty object', () => {
    const v = new ArgumentValidator();
    expect(v.validate({ type: 'object', properties: {} }, undefined)).toEqual({ valid: true });
    expect(v.validate(schema, undefined).valid).toBe(false);
  });

  it('compiles draft-07 and 2020-12 schemas, once per schema object', () => {
    const v = new ArgumentValidator();
    const d7 = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: false };
    const d2020 = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { xs: { type: 'array', prefixItems: [{ type: 'string' }] } } };
    expect(v.validate(d7, { a: 1 }).valid).toBe(true);
    expect(v.validate(d7, { a: 1.5 }).valid).toBe(false);
    expect(v.validate(d2020, { xs: ['x'] }).valid).toBe(true);
    expect(v.validate(d2020, { xs: [1] }).valid).toBe(false);
  });

  it('fails closed on a schema that does not compile', () => {
    const check = new ArgumentValidator().validate({ type: 'object', properties: { a: { type: 'no-such-type' } } }, { a: 1 });
    expect(check.valid).toBe(false);
    if (!check.valid) expect(check.message).toMatch(/^the tool's input schema cannot be used/);
  });
});

describe('argument issues, located', () => {
  it('names the same problems as validate, each with a pointer into the arguments', () => {
    const v = new ArgumentValidator();
    const args = { exchange_id: 'ftx', tags: ['a', 2], 'a/b~c': true };
    const check = v.validate(schema, args);
    expect(check.valid).toBe(false);
    const issues = v.explain(schema, args);
    expect(issues.map((i) => i.message)).toEqual(check.valid ? [] : check.errors);
    expect(issues).toEqual([
      { path: 'args.amount', pointer: '', at: 'value', message: 'args.amount is required' },
      { path: 'args.a/b~c', pointer: '/a~1b~0c', at: 'key', message: 'args.a/b~c is not an argument of this tool' },
      { path: 'args.exchange_id', pointer: '/exchange_id', at: 'value', message: 'args.exchange_id must be one of "binance", "kraken"' },
      { path: 'args.tags[1]', pointer: '/tags/1', at: 'value', message: 'args.tags[1] must be string' },
    ]);
    expect(v.explain(schema, { exchange_id: 'binance', amount: 1 })).toEqual([]);
  });

  it('locates non-finite numbers, and a schema that cannot be used', () => {
    const v = new ArgumentValidator();
    expect(v.explain({}, JSON.parse('{"legs": [{"qty": 1e999}]}'))).toEqual([{ path: 'args.legs[0].qty', pointer: '/legs/0/qty', at: 'value', message: 'args.legs[0].qty is not a finite number' }]);
    const broken = v.explain({ type: 'object', properties: { a: { type: 'no-such-type' } } }, {});
    expect(broken).toHaveLength(1);
    expect(broken[0]).toMatchObject({ path: 'args', pointer: '' });
    expect(broken[0]!.message).toMatch(/^the tool's input schema cannot be used/);
  });
});

describe('non-finite numbers', () => {
  const amount = { type: 'object', properties: { price: { type: 'number' }, legs: { type: 'array' } } };

  it('refuses Infinity, -Infinity and NaN wherever they are, before the schema is consulted', () => {
    const v = new ArgumentValidator();
    const check = v.validate(amount, JSON.parse('{"price": 1e999, "legs": [{"qty": -1e999}, 1]}'));
    expect(check.valid).toBe(false);
    if (check.valid) return;
    expect(check.nonFinite).toEqual(['args.price', 'args.legs[0].qty']);
    expect(check.message).toMatch(/^args\.price is not a finite number; args\.legs\[0\]\.qty is not a finite number/);
    // Even a schema that would accept anything does not let them through.
    expect(v.validate({}, { x: Number.NaN }).valid).toBe(false);
    expect(v.validate({ type: 'object' }, { price: 1e308 }).valid).toBe(true);
  });

  it('copies arguments with non-finite numbers named, keeping an own __proto__ key', () => {
    const args = JSON.parse('{"__proto__": {"p": 1e999}, "n": [-1e999, 2]}');
    const copy = finiteCopy(args) as Record<string, unknown>;
    expect(Object.keys(copy)).toEqual(['__proto__', 'n']);
    expect(JSON.stringify(copy)).toBe('{"__proto__":{"p":"Infinity"},"n":["-Infinity",2]}');
    expect(nonFinitePaths(copy)).toEqual([]);
  });

  it('walks deeply nested values without overflowing the stack', () => {
    let deep: unknown = 1e999;
    for (let i = 0; i < 50_000; i++) deep = [deep];
    expect(nonFinitePaths(deep)).toHaveLength(1);
  });
});
