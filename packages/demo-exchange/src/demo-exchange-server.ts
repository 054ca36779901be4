import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, ListToolsResult } from '@modelcontextprotocol/sdk/types.js';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { DemoExchange } from './demo-exchange.js';
import { DemoExchangeError } from './exchange-error.js';
import type { IndicatorName } from './technical-indicators.js';
import { DEMO_EXCHANGE_TOOLS, TOOL_NAMES } from './tool-catalog.js';
import type { ToolName } from './tool-catalog.js';

/** Name and version the server reports in `initialize`. */
export interface DemoExchangeServerOptions {
  /** Default `demo-exchange`. */
  readonly name?: string;
  /** Default the package version. */
  readonly version?: string;
}

/** Version of this package, reported as the server version. */
export const DEMO_EXCHANGE_VERSION = '0.1.0';

type Args = Readonly<Record<string, unknown>>;
type ToolHandler = (exchange: DemoExchange, args: Args) => unknown;

const MAX_REPORTED_ERRORS = 10;

// Arguments reach a handler only after schema validation, so the casts below restate
// what the schema already guarantees (types, enums, required properties).
const str = (value: unknown): string => value as string;
const optStr = (value: unknown): string | undefined => value as string | undefined;
const num = (value: unknown): number => value as number;
const optNum = (value: unknown): number | undefined => value as number | undefined;

function passThrough(args: Args, key: 'network' | 'clientOrderId'): string | undefined {
  const extra = args.params as Record<string, unknown> | undefined;
  const value = extra?.[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new DemoExchangeError('request.bad', `params.${key} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function indicatorParams(text: unknown): Record<string, unknown> {
  if (text === undefined || (typeof text === 'string' && text.trim() === '')) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text as string);
  } catch (error) {
    throw new DemoExchangeError('request.bad', `indicator_params is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DemoExchangeError('request.bad', 'indicator_params must be a JSON object, e.g. {"length": 14}');
  }
  return parsed as Record<string, unknown>;
}

function order(kind: 'spot' | 'futures', type: 'limit' | 'market'): ToolHandler {
  return (exchange, a) =>
    exchange.createOrder(str(a.exchange_id), {
      kind,
      type,
      symbol: str(a.symbol),
      side: a.side as 'buy' | 'sell',
      amount: num(a.amount),
      price: optNum(a.price),
      clientOrderId: passThrough(a, 'clientOrderId'),
    });
}

/** How each tool maps onto the exchange. */
const HANDLERS: Readonly<Record<ToolName, ToolHandler>> = {
  fetch_account_balance: (ex, a) => ex.fetchBalance(str(a.exchange_id)),
  fetch_deposit_address: (ex, a) => ex.fetchDepositAddress(str(a.exchange_id), str(a.code), passThrough(a, 'network')),
  withdraw_cryptocurrency: (ex, a) =>
    ex.withdraw(str(a.exchange_id), { code: str(a.code), amount: num(a.amount), address: str(a.address), tag: optStr(a.tag), network: passThrough(a, 'network') }),
  fetch_open_positions: (ex, a) => ex.fetchPositions(str(a.exchange_id)),
  set_trading_leverage: (ex, a) => ex.setLeverage(str(a.exchange_id), num(a.leverage), optStr(a.symbol)),
  fetch_ohlcv: (ex, a) => ex.fetchOhlcv(str(a.exchange_id), str(a.symbol), str(a.timeframe), optNum(a.since), optNum(a.limit)),
  fetch_funding_rate: (ex, a) => ex.fetchFundingRate(str(a.exchange_id), str(a.symbol)),
  fetch_long_short_ratio: (ex, a) => ex.fetchLongShortRatio(str(a.exchange_id), str(a.symbol), str(a.timeframe), optNum(a.limit)),
  fetch_option_contract_data: (ex, a) => ex.fetchOption(str(a.exchange_id), str(a.symbol)),
  fetch_market_ticker: (ex, a) => ex.fetchTicker(str(a.exchange_id), str(a.symbol)),
  fetch_public_market_trades: (ex, a) => ex.fetchTrades(str(a.exchange_id), str(a.symbol), optNum(a.since), optNum(a.limit)),
  create_spot_limit_order: order('spot', 'limit'),
  create_spot_market_order: order('spot', 'market'),
  create_futures_limit_order: order('futures', 'limit'),
  create_futures_market_order: order('futures', 'market'),
  cancel_order: (ex, a) => ex.cancelOrder(str(a.exchange_id), str(a.id), optStr(a.symbol)),
  fetch_order_history: (ex, a) => ex.fetchOrders(str(a.exchange_id), { symbol: optStr(a.symbol), since: optNum(a.since), limit: optNum(a.limit) }),
  fetch_my_trade_history: (ex, a) => ex.fetchMyTrades(str(a.exchange_id), { symbol: optStr(a.symbol), since: optNum(a.since), limit: optNum(a.limit) }),
  calculate_technical_indicator: (ex, a) =>
    ex.calculateIndicator(str(a.exchange_id), {
      symbol: str(a.symbol),
      timeframe: str(a.timeframe),
      indicator: a.indicator_name as IndicatorName,
      ohlcvLimit: optNum(a.ohlcv_limit),
      params: indicatorParams(a.indicator_params),
    }),
};

interface CompiledTool {
  readonly handler: ToolHandler;
  readonly validate: ValidateFunction;
}

let compiled: ReadonlyMap<string, CompiledTool> | undefined;

/** Validators are compiled once per process and shared by every server (one per HTTP session). */
function compiledTools(): ReadonlyMap<string, CompiledTool> {
  if (compiled) return compiled;
  // No coercion and no defaults: arguments are checked exactly as sent, like the gateway does.
  const ajv = new Ajv({ allErrors: true, strict: true, coerceTypes: false, useDefaults: false });
  const map = new Map<string, CompiledTool>();
  for (const tool of DEMO_EXCHANGE_TOOLS) {
    map.set(tool.name, { handler: HANDLERS[tool.name as ToolName], validate: ajv.compile(tool.inputSchema) });
  }
  for (const name of TOOL_NAMES) if (!map.has(name)) throw new Error(`tool catalog is missing ${name}`);
  compiled = map;
  return map;
}

/** Renders Ajv errors as one line each: where, what. */
function describeErrors(errors: readonly ErrorObject[]): string {
  const lines = errors.slice(0, MAX_REPORTED_ERRORS).map((e) => {
    const where = e.instancePath === '' ? 'arguments' : `arguments${e.instancePath.replace(/\//g, '.')}`;
    if (e.keyword === 'additionalProperties') return `${where} has unknown property '${String((e.params as { additionalProperty: string }).additionalProperty)}'`;
    if (e.keyword === 'enum') return `${where} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    return `${where} ${e.message ?? 'is invalid'}`;
  });
  if (errors.length > MAX_REPORTED_ERRORS) lines.push(`…and ${errors.length - MAX_REPORTED_ERRORS} more`);
  return lines.join('; ');
}

function unknownTool(name: string): McpError {
  const error = new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
  // McpError prefixes its message with "MCP error -32602: ", and the SDK sends `message`
  // as is; the client adds the prefix again. Keep the wire message plain.
  error.message = `Unknown tool: ${name}`;
  return error;
}

function errorResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Answers one `tools/call`: validates the arguments against the tool's input schema,
 * runs it on the exchange, and returns the CCXT-layout result as JSON text. Invalid
 * arguments and exchange errors are tool errors (`isError: true`); an unknown tool is
 * a JSON-RPC error -32602, as for any MCP server.
 */
export function callDemoExchangeTool(exchange: DemoExchange, name: string, args: unknown): CallToolResult {
  const tool = compiledTools().get(name);
  if (!tool) throw unknownTool(name);
  const input = args ?? {};
  if (!tool.validate(input)) {
    return errorResult(`Invalid arguments for tool ${name}: ${describeErrors(tool.validate.errors ?? [])}`);
  }
  try {
    const result = tool.handler(exchange, input as Args);
    return { content: [{ type: 'text', text: JSON.stringify(result) }] };
  } catch (error) {
    if (error instanceof DemoExchangeError) return errorResult(error.message);
    return errorResult(`An unexpected error occurred in ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Builds an MCP server (the SDK's low-level `Server`) offering the CCXT MCP server's 19
 * tools over `exchange`. Connect it to any transport; several servers may share one
 * exchange, and then see the same balances and orders.
 *
 * @example
 * const server = createDemoExchangeServer(createDemoExchange());
 * await server.connect(new StdioServerTransport());
 */
export function createDemoExchangeServer(exchange: DemoExchange, options: DemoExchangeServerOptions = {}): Server {
  compiledTools();
  const server = new Server(
    { name: options.name ?? 'demo-exchange', version: options.version ?? DEMO_EXCHANGE_VERSION },
    { capabilities: { tools: { listChanged: false } } },
  );
  const list: ListToolsResult = { tools: DEMO_EXCHANGE_TOOLS as ListToolsResult['tools'] };
  server.setRequestHandler(ListToolsRequestSchema, () => list);
  server.setRequestHandler(CallToolRequestSchema, (request) => callDemoExchangeTool(exchange, request.params.name, request.params.arguments));
  return server;
}
