import { readFileSync } from 'node:fs';
import { describe, expect, it, test } from 'vitest';
import { parseCatalog } from './catalog.js';
import { classifyTool, handsOutSecrets, splitToolName, toolRisk, type RiskClass } from './risk-classifier.js';

const ccxtCatalogFile = new URL('../../../../policies/ccxt/catalog.json', import.meta.url);
const everythingCatalogFile = new URL('../../../../policies/everything/catalog.json', import.meta.url);

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
    expect(classifyTool({ name: 'frobnicate', annotations: { openWorldHint: true } })).toEqual({ level: 'high', category: 'write' });
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
    expect(toolRisk({ name: 'get-env' })).toEqual({ level: 'high', category: 'read', source: 'classifier' });
    expect(toolRisk({ name: 'get-sum' })).toEqual({ level: 'low', category: 'read', source: 'classifier' });
  });
});

/** `level category`, the way a catalog pull prints a class. */
const cls = (c: RiskClass): string => `${c.level} ${c.category}`;

describe('the real catalogs: the expected class of every tool', () => {
  // Classified from name, description and annotations alone (the catalog's stored risk is ignored).
  // Why, for each class that is not plain from the tool's name and readOnlyHint:
  const everything: Record<string, [string, string?]> = {
    echo: ['low read'],
    'get-annotated-message': ['low read'],
    'get-env': ['high read', 'returns every environment variable of the server (name get + env, and its description): where credentials live'],
    'get-resource-links': ['low read'],
    'get-resource-reference': ['low read'],
    'get-structured-content': ['low read'],
    'get-sum': ['low read'],
    'get-tiny-image': ['low read'],
    'gzip-file-as-resource': ['high write', 'not read-only and openWorldHint: it fetches whatever URL it is given, from inside the server\'s network'],
    'toggle-simulated-logging': ['medium write', 'readOnlyHint false, closed world: changes the server for every client, nothing outside it'],
    'toggle-subscriber-updates': ['medium write', 'as toggle-simulated-logging'],
    'trigger-long-running-operation': ['high execute', '"trigger" is an execute verb; its readOnlyHint true may raise a class, never lower it'],
    'simulate-research-query': ['medium write', 'no verb it knows first, readOnlyHint false, closed world'],
  };
  const ccxt: Record<string, [string, string?]> = {
    fetch_account_balance: ['low read', 'read-only: openWorldHint (the exchange) does not raise a read'],
    fetch_deposit_address: ['low read', 'a deposit address is public (funds are sent to it), not a secret'],
    withdraw_cryptocurrency: ['critical financial'],
    fetch_open_positions: ['low read'],
    set_trading_leverage: ['critical financial', '"trading" is a financial verb: leverage multiplies exposure'],
    fetch_ohlcv: ['low read'],
    fetch_funding_rate: ['low read'],
    fetch_long_short_ratio: ['low read'],
    fetch_option_contract_data: ['low read'],
    fetch_market_ticker: ['low read'],
    fetch_public_market_trades: ['low read'],
    create_spot_limit_order: ['critical financial'],
    create_spot_market_order: ['critical financial'],
    create_futures_limit_order: ['critical financial'],
    create_futures_market_order: ['critical financial'],
    cancel_order: ['high destructive', 'cancelling stops money from moving; openWorldHint raises only to high, which destructive already is'],
    fetch_order_history: ['low read'],
    fetch_my_trade_history: ['low read'],
    calculate_technical_indicator: ['low read'],
  };

  test.each([
    ['everything', everythingCatalogFile, everything],
    ['ccxt', ccxtCatalogFile, ccxt],
  ] as const)('%s: every tool of the catalog has the expected class, and the catalog records it', (_server, file, expected) => {
    const { catalog } = parseCatalog(readFileSync(file, 'utf8'), 'catalog.json');
    expect(catalog!.tools.map((t) => t.name).sort()).toEqual(Object.keys(expected).sort());
    for (const tool of catalog!.tools) {
      const { risk: _stored, ...listed } = tool;
      expect(cls(classifyTool(listed)), tool.name).toBe(expected[tool.name]![0]);
      // The reviewed class in the catalog agrees with the classifier.
      expect(cls(tool.risk!), `${tool.name} in catalog.json`).toBe(expected[tool.name]![0]);
    }
  });
});

describe('tools that hand out secrets are at least high', () => {
  test('by name: environment, secrets, credentials, passwords, keys and tokens that are credentials', () => {
    for (const name of ['get-env', 'print_env', 'dump-env', 'getenv', 'list_environment_variables', 'get_env_vars', 'read_secret', 'list_secrets', 'get_credentials', 'show_password', 'get_api_key', 'getApiKey', 'export_private_key', 'read_access_token', 'get_ssh_keys', 'list_cookies']) {
      expect(handsOutSecrets({ name }), name).toBe(true);
      expect(atLeastHigh(classifyTool({ name })), name).toBe(true);
    }
    expect(classifyTool({ name: 'get_api_key' })).toEqual({ level: 'high', category: 'read' });
    expect(classifyTool({ name: 'create_api_key' })).toEqual({ level: 'high', category: 'write' });
  });

  test('by description: a tool that returns, lists or prints them', () => {
    const read = (description: string) => classifyTool({ name: 'inspect', description, annotations: { readOnlyHint: true } });
    expect(read('Returns all environment variables, helpful for debugging')).toEqual({ level: 'high', category: 'read' });
    expect(read('Lists the stored API keys of the project.')).toEqual({ level: 'high', category: 'read' });
    expect(read('Prints the OAuth tokens of the current session')).toEqual({ level: 'high', category: 'read' });
    expect(read('Shows the configured credentials')).toEqual({ level: 'high', category: 'read' });
    expect(read('Reads the .env file of the project')).toEqual({ level: 'high', category: 'read' });
  });

  test('no false positives: tokens of a language model or a chain, key-value keys, a key the tool uses, a negation', () => {
    for (const name of ['count_tokens', 'get_token_price', 'list_keys', 'get_key_value', 'create_env', 'list_envs', 'get_environment', 'fetch_deposit_address', 'get_public_key_fingerprint']) {
      expect(handsOutSecrets({ name }), name).toBe(false);
    }
    const safe = ['Fetch the account balance (free, used and total per currency) on an exchange.', 'Uses your API key to fetch prices.', 'Requires an API key. Lists the repositories of a user.', 'Lists repositories; never returns credentials.', 'Does not return secrets.', 'Returns the number of tokens in a text.', 'Returns the names of the environments of a deployment.'];
    for (const description of safe) {
      expect(handsOutSecrets({ name: 'x', description }), description).toBe(false);
      expect(classifyTool({ name: 'inspect', description, annotations: { readOnlyHint: true } }), description).toEqual({ level: 'low', category: 'read' });
    }
  });
});

describe('every annotation is read', () => {
  test('openWorldHint raises a tool that is not read-only to high; a read-only tool of an open world stays low', () => {
    expect(classifyTool({ name: 'send_email', annotations: { openWorldHint: true } })).toEqual({ level: 'high', category: 'write' });
    expect(classifyTool({ name: 'send_email', annotations: { openWorldHint: false } })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: 'send_email' })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: 'web_search', annotations: { readOnlyHint: true, openWorldHint: true } })).toEqual({ level: 'low', category: 'read' });
    // A read name without readOnlyHint: false stays a read, open world or not.
    expect(classifyTool({ name: 'fetch_url', annotations: { openWorldHint: true } })).toEqual({ level: 'low', category: 'read' });
    // Raised to high, never beyond: critical is for moving money.
    expect(classifyTool({ name: 'delete_repository', annotations: { destructiveHint: true, openWorldHint: true } })).toEqual({ level: 'high', category: 'destructive' });
    expect(classifyTool({ name: 'transfer', annotations: { openWorldHint: true } })).toEqual({ level: 'critical', category: 'financial' });
  });

  test('readOnlyHint: false makes a read verb no read', () => {
    expect(classifyTool({ name: 'get_or_create_user', annotations: { readOnlyHint: false } })).toEqual({ level: 'medium', category: 'write' });
    expect(classifyTool({ name: 'fetch_and_post', annotations: { readOnlyHint: false, openWorldHint: true } })).toEqual({ level: 'high', category: 'write' });
    expect(classifyTool({ name: 'get_or_create_user' })).toEqual({ level: 'low', category: 'read' });
  });

  test('idempotentHint never changes a class', () => {
    const tools = [{ name: 'send_email', annotations: { openWorldHint: true } }, { name: 'get-env' }, { name: 'echo', annotations: { readOnlyHint: true } }, { name: 'cancel_order', annotations: { destructiveHint: true } }];
    for (const t of tools) {
      for (const idempotentHint of [true, false]) expect(classifyTool({ ...t, annotations: { ...t.annotations, idempotentHint } }), t.name).toEqual(classifyTool(t));
    }
  });
});

function atLeastHigh(c: RiskClass): boolean {
  return c.level === 'high' || c.level === 'critical';
}
