import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { DEMO_EXCHANGE_TOOLS, TOOL_NAMES, demoExchangeToolList, demoExchangeTools } from './tool-catalog.js';

const CCXT_CATALOG = fileURLToPath(new URL('../../../policies/ccxt/catalog.json', import.meta.url));

/** The parts of a tool a policy depends on: everything but prose. */
function contract(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(contract);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== 'description')
        .map(([key, v]) => [key, contract(v)]),
    );
  }
  return value;
}

describe('tool catalog', () => {
  it('has the 19 CCXT MCP tools, each with a strict object schema and all four annotations', () => {
    const tools = demoExchangeTools();
    expect(tools.map((t) => t.name)).toEqual([...TOOL_NAMES]);
    expect(new Set(TOOL_NAMES).size).toBe(19);
    const ajv = new Ajv({ strict: true });
    for (const tool of tools) {
      expect(tool.inputSchema, tool.name).toMatchObject({ type: 'object', additionalProperties: false });
      expect(tool.inputSchema.required?.[0], tool.name).toBe('exchange_id');
      expect(Object.keys(tool.inputSchema.properties ?? {}), tool.name).toEqual(expect.arrayContaining(['api_key', 'secret_key', 'passphrase', 'params']));
      expect(Object.keys(tool.annotations ?? {}).sort(), tool.name).toEqual(['destructiveHint', 'idempotentHint', 'openWorldHint', 'readOnlyHint']);
      expect(tool.description?.length, tool.name).toBeGreaterThan(20);
      expect(() => ajv.compile(tool.inputSchema), tool.name).not.toThrow();
    }
  });

  it('marks exactly the tools that move funds or change state as not read-only', () => {
    const writes = demoExchangeTools()
      .filter((t) => t.annotations?.readOnlyHint === false)
      .map((t) => t.name);
    expect(writes).toEqual([
      'withdraw_cryptocurrency',
      'set_trading_leverage',
      'create_spot_limit_order',
      'create_spot_market_order',
      'create_futures_limit_order',
      'create_futures_market_order',
      'cancel_order',
    ]);
  });

  it('hands out copies, never the shared definitions', () => {
    const copy = demoExchangeToolList();
    copy.tools[0]!.name = 'changed';
    expect(DEMO_EXCHANGE_TOOLS[0]?.name).toBe('fetch_account_balance');
    expect(Object.isFrozen(DEMO_EXCHANGE_TOOLS[0]?.inputSchema)).toBe(true);
  });

  it('agrees with the policy catalog snapshot in policies/ccxt/catalog.json on names, schemas and annotations', () => {
    const snapshot = JSON.parse(readFileSync(CCXT_CATALOG, 'utf8')) as { tools: { name: string; inputSchema: unknown; annotations: unknown }[] };
    const theirs = snapshot.tools.map((t) => contract({ name: t.name, inputSchema: t.inputSchema, annotations: t.annotations }));
    const ours = demoExchangeTools().map((t) => contract({ name: t.name, inputSchema: t.inputSchema, annotations: t.annotations }));
    expect(ours).toEqual(theirs);
  });
});
