import fc from 'fast-check';
import { canonicalJson, sha256Hex } from '@tollgate/policy';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, canonicalEvent, eventHash, type HashedEventFields } from './event-hash.js';
import { DECISION_EFFECTS, LEDGER_EVENT_TYPES, OUTCOME_STATUSES, type JsonValue } from './ledger-event.js';

const json: fc.Arbitrary<JsonValue> = fc.jsonValue() as fc.Arbitrary<JsonValue>;
const text = fc.option(fc.string(), { nil: null });
const hex = fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: null });

const event: fc.Arbitrary<HashedEventFields> = fc.record({
  event_id: fc.uuid(),
  occurred_at: fc.date({ min: new Date('1970-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
  strand_id: fc.uuid(),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  event_type: fc.constantFrom(...LEDGER_EVENT_TYPES),
  call_id: text,
  agent_id: text,
  session_id: text,
  server: text,
  tool: text,
  args: fc.option(json, { nil: null }),
  args_sha256: hex,
  effect: fc.option(fc.constantFrom(...DECISION_EFFECTS), { nil: null }),
  rule: text,
  reason: text,
  policy_revision: text,
  policy_digest: text,
  approval_id: text,
  approver: text,
  outcome_status: fc.option(fc.constantFrom(...OUTCOME_STATUSES), { nil: null }),
  duration_ms: fc.option(fc.double({ min: 0, max: 1e9, noNaN: true }), { nil: null }),
  result_sha256: hex,
  detail: fc.option(fc.dictionary(fc.string(), json), { nil: null }),
  shadow_effect: fc.option(fc.constantFrom(...DECISION_EFFECTS), { nil: null }),
  shadow_rule: text,
});

/** The object the hash covers: every hashed field, without the shadow columns when they are null. */
function hashedObject(e: HashedEventFields): Record<string, unknown> {
  const { shadow_effect, shadow_rule, ...rest } = e;
  return { ...rest, ...(shadow_effect !== null ? { shadow_effect } : {}), ...(shadow_rule !== null ? { shadow_rule } : {}) };
}

describe('canonicalEvent', () => {
  it('is exactly the RFC 8785 canonical JSON of the hashed fields', () => {
    fc.assert(
      fc.property(event, (e) => {
        const expected = canonicalJson(hashedObject(e));
        expect(canonicalEvent(e)).toBe(expected);
        expect(canonicalEvent(e, canonicalJson(e.args), e.detail === null ? null : canonicalJson(e.detail))).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('chains: the hash is SHA-256 of prev_hash followed by the canonical event', () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(eventHash(GENESIS_HASH, e)).toBe(sha256Hex(GENESIS_HASH + canonicalJson(hashedObject(e))));
      }),
      { numRuns: 100 },
    );
  });

  it('changes when any field changes', () => {
    fc.assert(
      fc.property(event, fc.constantFrom<keyof HashedEventFields>('reason', 'seq', 'effect', 'args', 'occurred_at', 'tool', 'shadow_rule'), (e, key) => {
        const other = { ...e, [key]: key === 'seq' ? e.seq + 1 : key === 'effect' ? (e.effect === 'deny' ? 'allow' : 'deny') : key === 'occurred_at' ? '2000-01-01T00:00:00.000Z' : `${String(e[key])}!` };
        fc.pre(canonicalJson(hashedObject(other as HashedEventFields)) !== canonicalJson(hashedObject(e)));
        expect(eventHash(GENESIS_HASH, other as HashedEventFields)).not.toBe(eventHash(GENESIS_HASH, e));
      }),
      { numRuns: 100 },
    );
  });

  it('hashes an event without a shadow decision exactly as events were hashed before the shadow columns existed', () => {
    fc.assert(
      fc.property(event, (e) => {
        const row = { ...e, shadow_effect: null, shadow_rule: null };
        const { shadow_effect: _e, shadow_rule: _r, ...before } = row;
        expect(canonicalEvent(row)).toBe(canonicalJson(before));
        expect(canonicalEvent(row)).not.toContain('shadow');
      }),
      { numRuns: 100 },
    );
  });

  it('covers the shadow columns when they are set', () => {
    const base = { ...fc.sample(event, { numRuns: 1, seed: 7 })[0]!, shadow_effect: 'deny' as const, shadow_rule: 'tools.order.deny_if[0]' };
    expect(canonicalEvent(base)).toContain('"shadow_effect":"deny","shadow_rule":"tools.order.deny_if[0]"');
    expect(eventHash(GENESIS_HASH, { ...base, shadow_effect: 'allow' })).not.toBe(eventHash(GENESIS_HASH, base));
    expect(eventHash(GENESIS_HASH, { ...base, shadow_rule: null })).not.toBe(eventHash(GENESIS_HASH, base));
  });
});
