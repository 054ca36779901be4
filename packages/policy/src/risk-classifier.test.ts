import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from './catalog.js';
import { classifyTool, splitToolName, toolRisk } from './risk-classifier.js';

const ccxtCatalogFile = new URL('../../../policies/ccxt/catalog.json', import.meta.url);

describe('splitToolName', () => {
  it('splits on _, -, camelCase, acronyms and digits', () => {
    expect(splitToolName('create_spot_limit_order')).toEqual(['create', 'spot', 'limit', 'order']);
    expect(splitToolName('gzip-file-as-resource')).toEqual(['gzip', 'file', 'as', 'resource']);
    expect(splitToolName('createSpotOrder')).toEqual(['create', 'spot', 'order']);
    expect(splitToolName('get_HTTPStatus')).toEqual(['get', 'http', 'status']);
    expect(splitToolName('fetch2FACodes')).toEqual(['fetch', '2', 'fa', 'codes']);
    expect(splitToolName('__')).toEqual([]);
  });
});

describe('classifyTool', () => {
  it('classifies every CCXT tool by name alone as the task requires', () => {
    const critical = ['withdraw_cryptocurrency', 'create_spot_limit_order', 'create_spot_market_order', 'create_futures_limit_order', 'create_futures_market_order', 'set_trading_leverage'];
    for (const name of critical) expect(classifyTool({ name }), name).toEqual({ level: 'critical', category: 'financial' });
    // Decision: cancelling an order stops money from moving, so it is high/destructive (not financial).
    expect(classifyTool({ name: 'cancel_order' })).toEqual({ level: 'high', category: 'destructive' });
    const reads = [
      'fetch_account_balance', 'fetch_deposit_address', 'fetch_open_positions', 'fetch_ohlcv', 'fetch_funding_rate', 'fetch_long_short_ratio',
      'fetch_option_contract_data', 'fetch_market_ticker', 'fetch_public_market_trades', 'fetch_order_history', 'fetch_my_trade_history',
      'calculate_technical_indicator',
    ];
    for (const name of reads) expect(classifyTool({ name }), name).toEqual({ level: 'low', category: 'read' });
  });

  it('gives the same classes with the CCXT catalog annotations, and they match the stored risk', () => {
    const { catalog } = parseCatalog(readFileSync(ccxtCatalogFile, 'utf8'), 'catalog.json');
    expect(catalog?.tools).toHaveLength(19);
    for (const tool of catalog!.tools) {
      expect(classifyTool(tool), tool.name).toEqual(tool.risk);
    }
  });

  it('lets the most severe word win, and recognises inflections', () => {
    expect(classifyTool({ name: 'transferFunds' })).toEqual({ level: 'critical', category: 'financial' });
    expect(classifyTool({ name: 'place_orders' })).toEqual({ level: 'critical', category: 'financial' });
    expect(classifyTool({ name: 'delete_file' })).toEqual({ level: 'high', category: 'destructive' });
    expect(classifyTool({ name: 'purge-cache' })).toEqual({ level: 'high', category: 'destructive' });
    expect(classifyTool({ name: 'run_shell_command' })).toEqual({ level: 'high', category: 'execute' });
    expect(classifyTool({ name: 'evalPython' })).toEqual({ level: 'high', category: 'execute' });
    expect(classifyTool({ name: 'update_issue' })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: 'uploading_files' })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: 'issue_update_and_delete' })).toEqual({ level: 'high', category: 'destructive' });
    expect(classifyTool({ name: 'search_issues' })).toEqual({ level: 'low', category: 'read' });
  });

  it('treats a leading read verb as a read unless destructiveHint says otherwise', () => {
    expect(classifyTool({ name: 'get_and_delete_message' })).toEqual({ level: 'low', category: 'read' });
    expect(classifyTool({ name: 'get_and_delete_message', annotations: { destructiveHint: true } })).toEqual({ level: 'high', category: 'destructive' });
    expect(classifyTool({ name: 'list_payments' })).toEqual({ level: 'low', category: 'read' });
  });

  it('uses annotations, which can raise risk but never lower a financial name', () => {
    expect(classifyTool({ name: 'frobnicate', annotations: { readOnlyHint: true } })).toEqual({ level: 'low', category: 'read' });
    expect(classifyTool({ name: 'frobnicate', annotations: { destructiveHint: true } })).toEqual({ level: 'high', category: 'destructive' });
    expect(classifyTool({ name: 'frobnicate', annotations: { readOnlyHint: false } })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: 'frobnicate', annotations: { openWorldHint: true } })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: 'withdraw', annotations: { readOnlyHint: true, destructiveHint: false } })).toEqual({ level: 'critical', category: 'financial' });
    expect(classifyTool({ name: 'echo', annotations: { idempotentHint: true } })).toEqual({ level: 'low', category: 'read' });
  });

  it('falls back to medium/write when nothing is known', () => {
    expect(classifyTool({ name: 'frobnicate' })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: '' })).toEqual({ level: 'medium', category: 'write' });
  });
});

describe('toolRisk', () => {
  it('prefers the risk stored in the catalog', () => {
    expect(toolRisk({ name: 'get-env', risk: { level: 'high', category: 'read' } })).toEqual({ level: 'high', category: 'read', source: 'catalog' });
    expect(toolRisk({ name: 'get-env' })).toEqual({ level: 'low', category: 'read', source: 'classifier' });
  });
});
