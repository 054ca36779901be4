import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveArgumentPath } from './argument-path-resolver.js';
import { buildCatalog, findCatalogTool, parseCatalog, type CatalogTool } from './catalog.js';

function position(text: string, needle: string, nth = 0): { line: number; column: number } {
  let offset = -1;
  for (let i = 0; i <= nth; i++) {
    offset = text.indexOf(needle, offset + 1);
    if (offset < 0) throw new Error(`"${needle}" (#${nth}) not in text`);
  }
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

const tool = (inputSchema: Record<string, unknown>): CatalogTool => ({ name: 't', inputSchema });

describe('parseCatalog', () => {
  it('reads the CCXT and server-everything snapshots', () => {
    for (const server of ['ccxt', 'everything']) {
      const file = `policies/${server}/catalog.json`;
      const { catalog, diagnostics } = parseCatalog(readFileSync(new URL(`../../../../${file}`, import.meta.url), 'utf8'), file);
      expect(diagnostics).toEqual([]);
      expect(catalog?.server).toBe(server);
      expect(catalog?.file).toBe(file);
      expect(catalog?.tools.length).toBeGreaterThan(10);
    }
  });

  it('keeps the model fields and accepts keys newer MCP versions add', () => {
    const text = JSON.stringify({
      server: 's',
      nextCursor: null,
      tools: [
        {
          name: 'a',
          title: 'A',
          description: 'does a',
          inputSchema: { type: 'object' },
          outputSchema: { type: 'object' },
          _meta: { x: 1 },
          annotations: { readOnlyHint: true, title: 'A tool' },
          risk: { level: 'low', category: 'read' },
        },
      ],
    });
    const { catalog, diagnostics } = parseCatalog(text, 'catalog.json');
    expect(diagnostics).toEqual([]);
    expect(catalog!.tools[0]).toEqual({
      name: 'a',
      title: 'A',
      description: 'does a',
      inputSchema: { type: 'object' },
      annotations: { readOnlyHint: true, title: 'A tool' },
      risk: { level: 'low', category: 'read' },
    });
    expect(findCatalogTool(catalog!, 'a')?.name).toBe('a');
    expect(findCatalogTool(catalog!, 'b')).toBeUndefined();
  });

  it('reports each structural problem as TG206 at its position', () => {
    const text = `{
  "tools": [
    { "name": "ok", "inputSchema": { "type": "object" } },
    { "name": "", "inputSchema": { "type": "object" } },
    { "name": "no_schema" },
    { "name": "bad_type", "inputSchema": { "type": "array" } },
    { "name": "bad_hint", "inputSchema": {}, "annotations": { "readOnlyHint": "yes" } },
    { "name": "bad_risk", "inputSchema": {}, "risk": { "level": "severe", "category": "read", "note": 1 } },
    { "name": "ok", "inputSchema": {} },
    42
  ]
}`;
    const { catalog, diagnostics } = parseCatalog(text, 'catalog.json');
    expect(catalog).toBeUndefined();
    const found = diagnostics.map((d) => ({ code: d.code, line: d.line, column: d.column, message: d.message }));
    expect(found).toEqual([
      { code: 'TG206', ...position(text, '""'), message: '"name" must be a non-empty string' },
      { code: 'TG206', ...position(text, '{ "name": "no_schema"'), message: 'tool "no_schema": has no "inputSchema"' },
      { code: 'TG206', ...position(text, '"array"'), message: 'tool "bad_type": "inputSchema" must have type "object" (got "array")' },
      { code: 'TG206', ...position(text, '"yes"'), message: 'tool "bad_hint": "readOnlyHint" must be true or false' },
      { code: 'TG206', ...position(text, '"severe"'), message: 'tool "bad_risk": "risk.level" must be one of "critical", "high", "medium", "low" (got "severe")' },
      { code: 'TG206', ...position(text, '1 }'), message: 'tool "bad_risk": unknown key "note" in "risk"' },
      { code: 'TG206', ...position(text, '"ok"', 1), message: 'tool "ok" is listed twice (first at line 3)' },
      { code: 'TG206', ...position(text, '42'), message: 'tools[7] must be an object with "name" and "inputSchema"' },
    ]);
    expect(diagnostics.every((d) => d.severity === 'error' && d.file === 'catalog.json')).toBe(true);
  });

  it('reports a catalog that is not an object or has no tools list', () => {
    expect(parseCatalog('[]', 'c.json').diagnostics.map((d) => [d.code, d.line, d.column, d.message])).toEqual([
      ['TG206', 1, 1, 'a catalog must be an object { "server"?, "tools": [...] }'],
    ]);
    expect(parseCatalog('{"server": 1}', 'c.json').diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['TG206', '"server" must be a string'],
      ['TG206', 'the catalog has no "tools" list'],
    ]);
    expect(parseCatalog('{"tools": {}}', 'c.json').diagnostics.map((d) => [d.code, d.line, d.column, d.message])).toEqual([
      ['TG206', 1, 11, '"tools" must be an array of tools'],
    ]);
  });

  it('reads YAML catalogs with positions, and passes syntax errors through', () => {
    const yaml = 'server: s\ntools:\n  - name: a\n    inputSchema: {type: object}\n  - name: a\n    inputSchema: {}\n';
    const { diagnostics } = parseCatalog(yaml, 'catalog.yaml');
    expect(diagnostics.map((d) => [d.code, d.line, d.column, d.message])).toEqual([['TG206', 5, 11, 'tool "a" is listed twice (first at line 3)']]);
    expect(parseCatalog('{"tools": [', 'c.json').diagnostics[0]?.code).toBe('TG001');
    expect(parseCatalog('{"tools": [], "tools": []}', 'c.json').diagnostics[0]?.code).toBe('TG002');
  });
});

describe('resolveArgumentPath', () => {
  const orderTool = tool({
    type: 'object',
    properties: {
      amount: { type: 'number' },
      count: { type: 'integer' },
      side: { type: 'string', enum: ['buy', 'sell'] },
      mode: { const: 'fast' },
      note: { type: ['string', 'null'] },
      to: { $ref: '#/$defs/Account' },
      from: { $ref: '#/definitions/Account' },
      legs: { type: 'array', items: { $ref: '#/$defs/Leg' }, minItems: 1 },
      pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false, minItems: 2 },
      legacyPair: { type: 'array', items: [{ type: 'string' }], additionalItems: false },
      tags: { type: 'array', items: { type: 'string' } },
      price: { anyOf: [{ type: 'number' }, { type: 'string', pattern: '^[0-9.]+$' }] },
      target: { oneOf: [{ type: 'object', properties: { iban: { type: 'string' } }, required: ['iban'] }, { type: 'object', properties: { iban: { type: 'string' }, bic: { type: 'string' } }, required: ['bic'] }] },
      meta: { type: 'object' },
      extra: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'boolean' } },
      labels: { type: 'object', patternProperties: { '^x-': { type: 'integer' } }, additionalProperties: false },
      open: { type: 'object', properties: { a: {} }, additionalProperties: true },
      both: { allOf: [{ properties: { a: { type: 'number' } }, required: ['a'] }, { properties: { b: { type: 'string' } } }] },
      anything: {},
    },
    required: ['amount', 'side', 'to', 'legs', 'pair'],
    additionalProperties: false,
    $defs: { Account: { type: 'object', properties: { iban: { type: 'string' }, owner: { $ref: '#/$defs/Person' } }, required: ['iban'] }, Person: { type: 'object', properties: { name: { type: 'string' } } }, Leg: { type: 'object', properties: { qty: { type: 'number' } }, required: ['qty'] } },
    definitions: { Account: { type: 'object', properties: { iban: { type: 'string' } } } },
  });

  it('gives the type of a property and whether it is required', () => {
    expect(resolveArgumentPath(orderTool, 'args.amount')).toMatchObject({ status: 'found', types: ['number'], required: true });
    expect(resolveArgumentPath(orderTool, 'args.count')).toMatchObject({ status: 'found', types: ['integer'], required: false });
    expect(resolveArgumentPath(orderTool, 'args.side')).toMatchObject({ status: 'found', types: ['string'], enum: ['buy', 'sell'], required: true });
    expect(resolveArgumentPath(orderTool, 'args.mode')).toMatchObject({ status: 'found', types: ['string'], enum: ['fast'] });
    expect(resolveArgumentPath(orderTool, 'args.note')).toMatchObject({ status: 'found', types: ['null', 'string'] });
    expect(resolveArgumentPath(orderTool, ['amount'])).toMatchObject({ status: 'found', types: ['number'] });
  });

  it('follows $ref into $defs and definitions, and tracks requiredness along the path', () => {
    const r = resolveArgumentPath(orderTool, 'args.to.iban');
    expect(r).toMatchObject({ status: 'found', types: ['string'], required: true });
    expect(r.steps).toEqual([
      { segment: 'to', types: ['object'], required: true },
      { segment: 'iban', types: ['string'], required: true },
    ]);
    expect(resolveArgumentPath(orderTool, 'args.to.owner.name')).toMatchObject({ status: 'found', types: ['string'], required: false });
    expect(resolveArgumentPath(orderTool, 'args.from.iban')).toMatchObject({ status: 'found', types: ['string'], required: false });
  });

  it('follows items, prefixItems and draft-07 tuples, with minItems for requiredness', () => {
    expect(resolveArgumentPath(orderTool, 'args.legs[0].qty')).toMatchObject({ status: 'found', types: ['number'], required: true });
    expect(resolveArgumentPath(orderTool, 'args.legs[3].qty')).toMatchObject({ status: 'found', required: false });
    expect(resolveArgumentPath(orderTool, 'args.pair[1]')).toMatchObject({ status: 'found', types: ['number'], required: true });
    expect(resolveArgumentPath(orderTool, 'args.pair[2]')).toMatchObject({ status: 'unknown', problem: 'index-out-of-range', failedAt: 1 });
    expect(resolveArgumentPath(orderTool, 'args.legacyPair[0]')).toMatchObject({ status: 'found', types: ['string'] });
    expect(resolveArgumentPath(orderTool, 'args.legacyPair[1]')).toMatchObject({ status: 'unknown', problem: 'index-out-of-range' });
    expect(resolveArgumentPath(orderTool, 'args.tags')).toMatchObject({ status: 'found', types: ['array'], itemTypes: ['string'] });
  });

  it('unions the types of anyOf/oneOf branches; required only if every branch requires it', () => {
    expect(resolveArgumentPath(orderTool, 'args.price')).toMatchObject({ status: 'found', types: ['number', 'string'] });
    expect(resolveArgumentPath(orderTool, 'args.target.iban')).toMatchObject({ status: 'found', types: ['string'], required: false });
    expect(resolveArgumentPath(orderTool, 'args.target.bic')).toMatchObject({ status: 'found', types: ['string'], required: false });
    const both = resolveArgumentPath(tool({ type: 'object', properties: { t: { oneOf: [{ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }, { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] }] } }, required: ['t'] }), 'args.t.a');
    expect(both).toMatchObject({ status: 'found', types: ['integer', 'string'], required: true });
  });

  it('intersects allOf members', () => {
    expect(resolveArgumentPath(orderTool, 'args.both.a')).toMatchObject({ status: 'found', types: ['number'], required: false });
    expect(resolveArgumentPath(orderTool, 'args.both.b')).toMatchObject({ status: 'found', types: ['string'] });
    expect(resolveArgumentPath(orderTool, 'args.both.c')).toMatchObject({ status: 'unknown', problem: 'no-such-property', known: ['a', 'b'] });
    expect(resolveArgumentPath(tool({ allOf: [{ type: ['string', 'integer'] }, { type: 'number' }] }), [])).toMatchObject({ status: 'found', types: ['integer'] });
  });

  it('uses additionalProperties and patternProperties schemas', () => {
    expect(resolveArgumentPath(orderTool, 'args.extra.zzz')).toMatchObject({ status: 'found', types: ['boolean'] });
    expect(resolveArgumentPath(orderTool, 'args.labels.x-team')).toMatchObject({ status: 'found', types: ['integer'] });
    expect(resolveArgumentPath(orderTool, 'args.labels.team')).toMatchObject({ status: 'unknown', problem: 'no-such-property' });
  });

  it('reports names the schema rules out, with the names it does list', () => {
    const r = resolveArgumentPath(orderTool, 'args.amout');
    expect(r).toMatchObject({ status: 'unknown', problem: 'no-such-property', failedAt: 0 });
    expect(r.known).toContain('amount');
    expect(resolveArgumentPath(orderTool, 'args.to.bic')).toMatchObject({ status: 'unknown', failedAt: 1, known: ['iban', 'owner'] });
    expect(resolveArgumentPath(orderTool, 'args.amount.value')).toMatchObject({ status: 'unknown', problem: 'not-an-object', actual: ['number'], failedAt: 1 });
    expect(resolveArgumentPath(orderTool, 'args.side[0]')).toMatchObject({ status: 'unknown', problem: 'not-an-array', actual: ['string'] });
    // A schema that lists properties (even none) and does not allow others rules out any other name.
    expect(resolveArgumentPath(tool({ type: 'object', properties: {} }), 'args.x')).toMatchObject({ status: 'unknown', known: [] });
  });

  it('stops where the schema is open or untyped', () => {
    expect(resolveArgumentPath(orderTool, 'args.meta.anything.deep[0]')).toMatchObject({ status: 'open', types: null, required: false });
    expect(resolveArgumentPath(orderTool, 'args.open.zzz')).toMatchObject({ status: 'open' });
    expect(resolveArgumentPath(orderTool, 'args.anything')).toMatchObject({ status: 'found', types: null });
    expect(resolveArgumentPath(tool({ type: 'object' }), 'args.x.y')).toMatchObject({ status: 'open', required: false });
    expect(resolveArgumentPath(tool({ type: 'object', properties: { a: { $ref: 'https://example.com/a.json' } } }), 'args.a.b')).toMatchObject({ status: 'open' });
    expect(resolveArgumentPath(orderTool, 'agent.id')).toMatchObject({ status: 'open' });
  });

  it('terminates on recursive and explosive schemas', () => {
    const recursive = tool({ $ref: '#/$defs/Node', $defs: { Node: { type: 'object', properties: { next: { $ref: '#/$defs/Node' }, v: { type: 'number' } } } } });
    expect(resolveArgumentPath(recursive, 'args.next.next.next.v')).toMatchObject({ status: 'found', types: ['number'] });
    const selfRef = tool({ $ref: '#' });
    expect(resolveArgumentPath(selfRef, 'args.a').status).toBe('open');
    const branches = Array.from({ length: 9 }, (_, i) => ({ type: 'object', properties: { [`k${i}`]: { type: 'string' } } }));
    const explosive = tool({ allOf: [{ anyOf: branches }, { anyOf: branches }, { anyOf: branches }] });
    expect(resolveArgumentPath(explosive, 'args.k1').status).toBe('open');
  });
});

describe('buildCatalog', () => {
  it('keeps the tools/list fields and adds risk classes, keeping a risk that is already there', () => {
    const catalog = buildCatalog('bank', [
      { name: 'transfer_funds', description: 'move money', inputSchema: { type: 'object' } },
      { name: 'get_balance', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
      { name: 'reviewed', inputSchema: { type: 'object' }, risk: { level: 'high', category: 'execute' } },
    ]);
    expect(catalog).toEqual({
      server: 'bank',
      tools: [
        { name: 'transfer_funds', description: 'move money', inputSchema: { type: 'object' }, risk: { level: 'critical', category: 'financial' } },
        { name: 'get_balance', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true }, risk: { level: 'low', category: 'read' } },
        { name: 'reviewed', inputSchema: { type: 'object' }, risk: { level: 'high', category: 'execute' } },
      ],
    });
    // What catalog pull writes reads back as a valid catalog.
    expect(parseCatalog(JSON.stringify(catalog), 'catalog.json').diagnostics).toEqual([]);
  });
});
