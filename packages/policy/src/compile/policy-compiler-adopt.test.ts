import { describe, expect, it } from 'vitest';
import { canonicalDigest } from '../canonical-json.js';
import { compilePolicy } from './policy-compiler.js';

const policy = () => ({ version: '1', default: 'deny', tools: { echo: { require: [{ path: 'args.n', op: 'lte', value: 3 }] } } });

describe('compilePolicy: a value handed over and a digest already known', () => {
  it('copies the value by default, so the caller may change it afterwards', () => {
    const value = policy();
    const compiled = compilePolicy(value);
    expect(Object.isFrozen(value)).toBe(false);
    value.tools.echo.require[0]!.value = 100;
    expect(compiled.decide({ tool: 'echo', args: { n: 50 } }).effect).toBe('deny');
    expect(compiled.digest).toBe(canonicalDigest(policy()));
  });

  it('adopts the value (frozen in place, not copied) and takes the given digest', () => {
    const value = policy();
    const digest = canonicalDigest(value);
    const compiled = compilePolicy(value, { adopt: true, digest });
    expect(Object.isFrozen(value.tools.echo.require[0])).toBe(true);
    expect(compiled.digest).toBe(digest);
    expect(compiled.decide({ tool: 'echo', args: { n: 2 } })).toMatchObject({ effect: 'allow', digest });
    expect(compiled.decide({ tool: 'echo', args: { n: 4 } })).toMatchObject({ effect: 'deny', rule: 'tools.echo.require[0]', digest });
  });
});
