/**
 * Stable codes of the errors the demo exchange raises. Each one corresponds to a CCXT
 * error class, whose name prefixes the message the way the CCXT MCP server shows it.
 */
export type DemoExchangeErrorCode =
  | 'exchange.not_found'
  | 'exchange.not_supported'
  | 'symbol.bad'
  | 'request.bad'
  | 'order.invalid'
  | 'order.not_found'
  | 'funds.insufficient'
  | 'address.invalid'
  | 'arguments.invalid'
  | 'server.usage';

const CCXT_CLASS: Readonly<Record<DemoExchangeErrorCode, string>> = {
  'exchange.not_found': 'ExchangeNotFound',
  'exchange.not_supported': 'NotSupported',
  'symbol.bad': 'BadSymbol',
  'request.bad': 'BadRequest',
  'order.invalid': 'InvalidOrder',
  'order.not_found': 'OrderNotFound',
  'funds.insufficient': 'InsufficientFunds',
  'address.invalid': 'InvalidAddress',
  'arguments.invalid': 'ArgumentsRequired',
  'server.usage': 'UsageError',
};

/**
 * The one base error of `@tollgate/demo-exchange`. `code` is stable and machine-readable;
 * `ccxtClass` names the CCXT exception a real exchange would raise for the same problem,
 * and the message starts with it (`BadSymbol: binance does not have market symbol DOGE/USDT`).
 *
 * @example
 * try { exchange.fetchTicker('binance', 'DOGE/USDT'); }
 * catch (e) { if (e instanceof DemoExchangeError && e.code === 'symbol.bad') { ... } }
 */
export class DemoExchangeError extends Error {
  /** Stable machine-readable code. */
  readonly code: DemoExchangeErrorCode;
  /** Name of the equivalent CCXT exception class. */
  readonly ccxtClass: string;

  /**
   * @param code stable code of the failure.
   * @param detail what went wrong, naming the exchange, symbol, order or amount involved.
   * @param options standard `cause`.
   */
  constructor(code: DemoExchangeErrorCode, detail: string, options?: { cause?: unknown }) {
    const ccxtClass = CCXT_CLASS[code];
    super(`${ccxtClass}: ${detail}`, options);
    this.name = 'DemoExchangeError';
    this.code = code;
    this.ccxtClass = ccxtClass;
  }
}
