// Public API of @tollgate/demo-exchange: the in-memory exchange, the CCXT MCP server's tool
// catalog, and the MCP server over stdio and Streamable HTTP.
export { createDemoExchange, DemoExchange } from './demo-exchange.js';
export type { DemoExchangeOptions } from './demo-exchange.js';
export type {
  AccountBalance,
  BalanceEntry,
  DepositAddress,
  FeePaid,
  FundingRate,
  HistoryQuery,
  IndicatorPoint,
  IndicatorRequest,
  IndicatorResult,
  LeverageChange,
  LongShortRatio,
  MarketInfo,
  MarketKind,
  OptionContractData,
  Order,
  OrderBook,
  OrderRequest,
  OrderSide,
  OrderStatus,
  Position,
  Ticker,
  Trade,
  Withdrawal,
  WithdrawalRequest,
} from './ccxt-structures.js';
export { DemoExchangeError } from './exchange-error.js';
export type { DemoExchangeErrorCode } from './exchange-error.js';
export { manualClock, systemClock } from './clock.js';
export type { Clock, ManualClock } from './clock.js';
export { ASSETS, CURRENCIES, DEFAULT_EXCHANGES, DEFAULT_LEVERAGE, FUTURES_FEES, QUOTE, SPOT_FEES } from './exchange-seed.js';
export type { AssetSpec, CurrencySpec, ExchangeSeed, FeeSchedule, NetworkSpec } from './exchange-seed.js';
export { TIMEFRAMES, isTimeframe } from './timeframe.js';
export type { Timeframe } from './timeframe.js';
export type { OhlcvRow, BookLevel } from './price-model.js';
export { INDICATOR_NAMES, averageTrueRange, bollingerBands, ema, macd, rsi, sma, stochastic } from './technical-indicators.js';
export type { BollingerSeries, IndicatorName, IndicatorSeries, MacdSeries, StochasticSeries } from './technical-indicators.js';
export { DEMO_EXCHANGE_TOOLS, TOOL_NAMES, demoExchangeToolList, demoExchangeTools } from './tool-catalog.js';
export type { JsonSchema, ToolName } from './tool-catalog.js';
export { DEMO_EXCHANGE_VERSION, callDemoExchangeTool, createDemoExchangeServer } from './demo-exchange-server.js';
export type { DemoExchangeServerOptions } from './demo-exchange-server.js';
export { MCP_PATH, startDemoExchangeHttp } from './demo-exchange-http.js';
export type { DemoExchangeHttp, DemoExchangeHttpOptions } from './demo-exchange-http.js';
export { DEMO_EXCHANGE_USAGE, parseDemoExchangeArguments, runDemoExchange } from './demo-exchange-cli.js';
export type { DemoExchangeCommand, RunningDemoExchange } from './demo-exchange-cli.js';
