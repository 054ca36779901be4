import { AccountWallet } from './account-wallet.js';
import type {
  AccountBalance,
  DepositAddress,
  FundingRate,
  HistoryQuery,
  IndicatorRequest,
  IndicatorResult,
  LeverageChange,
  LongShortRatio,
  MarketInfo,
  OptionContractData,
  Order,
  OrderBook,
  OrderRequest,
  Position,
  Ticker,
  Trade,
  Withdrawal,
  WithdrawalRequest,
} from './ccxt-structures.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { hashString, unitHash } from './deterministic-hash.js';
import { DemoExchangeError } from './exchange-error.js';
import { DEFAULT_EXCHANGES } from './exchange-seed.js';
import type { ExchangeSeed } from './exchange-seed.js';
import { BOOK_DEPTH, MarketCatalog } from './market-catalog.js';
import { MarketDataFeed } from './market-data-feed.js';
import { MatchingEngine } from './matching-engine.js';
import { PositionBook } from './position-book.js';
import type { OhlcvRow } from './price-model.js';

/** How a demo exchange is set up. Everything is optional. */
export interface DemoExchangeOptions {
  /** Seed of every generated number: prices, book sizes, public trades, addresses. Default 1. */
  readonly seed?: number;
  /** Source of the current time. Default: the wall clock. */
  readonly clock?: Clock;
  /** The venues served, with their starting balances. Default {@link DEFAULT_EXCHANGES}. */
  readonly exchanges?: readonly ExchangeSeed[];
}

/** One venue's parts: its markets, the account's wallet and positions, its matching engine and market data. */
interface Venue {
  readonly catalog: MarketCatalog;
  readonly wallet: AccountWallet;
  readonly positions: PositionBook;
  readonly engine: MatchingEngine;
  readonly feed: MarketDataFeed;
}

/** Creates a demo exchange: see {@link DemoExchange}. */
export function createDemoExchange(options: DemoExchangeOptions = {}): DemoExchange {
  return new DemoExchange(options);
}

/**
 * An in-memory crypto exchange serving several venues (`binance`, `kraken`, `coinbase` by
 * default), each with USDT-quoted spot markets for BTC, ETH and SOL and (where the venue
 * lists them) USDT-margined perpetual futures and options on them.
 *
 * Prices follow a deterministic path of the seed and the clock; market orders fill against
 * a generated order book and move balances; limit orders reserve funds, fill at once when
 * they cross the book and otherwise rest until the price reaches them or they are
 * canceled. Every method answers in CCXT's unified data layout and throws
 * {@link DemoExchangeError} on bad input, unknown venues, symbols and orders, and
 * insufficient funds. All state lives in this object; methods are synchronous, so every
 * call is atomic.
 *
 * Each venue is composed of a {@link MarketCatalog}, an {@link AccountWallet}, a
 * {@link PositionBook}, a {@link MatchingEngine} and a {@link MarketDataFeed}; this class
 * reads the clock once a call, finds the venue and hands the call to the part that owns it.
 *
 * @example
 * const exchange = createDemoExchange({ seed: 7, clock: manualClock('2025-01-01T00:00:00Z') });
 * exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.1 });
 */
export class DemoExchange {
  private readonly seed: number;
  private readonly clock: Clock;
  private readonly venues = new Map<string, Venue>();

  /** @throws DemoExchangeError (`request.bad`) on a malformed venue list. */
  constructor(options: DemoExchangeOptions = {}) {
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed)) throw new DemoExchangeError('request.bad', `seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    this.clock = options.clock ?? systemClock;
    const seeds = options.exchanges ?? DEFAULT_EXCHANGES;
    if (seeds.length === 0) throw new DemoExchangeError('request.bad', 'at least one exchange must be configured');
    for (const venueSeed of seeds) {
      const id = venueSeed.id.toLowerCase();
      if (!/^[a-z0-9]+$/.test(id)) throw new DemoExchangeError('request.bad', `exchange id ${JSON.stringify(venueSeed.id)} must be letters and digits`);
      if (this.venues.has(id)) throw new DemoExchangeError('request.bad', `exchange ${id} is configured twice`);
      this.venues.set(id, this.buildVenue({ ...venueSeed, id }));
    }
  }

  /** The venue ids served, e.g. `['binance', 'kraken', 'coinbase']`. */
  exchangeIds(): string[] {
    return [...this.venues.keys()];
  }

  /** The markets listed on a venue. */
  listMarkets(exchangeId: string): MarketInfo[] {
    return this.venue(exchangeId).catalog.list();
  }

  /** The account's balances (`fetchBalance`). */
  fetchBalance(exchangeId: string): AccountBalance {
    const venue = this.venue(exchangeId);
    const now = this.clock.now();
    venue.engine.settle(now);
    return venue.wallet.balance(now);
  }

  /** The deposit address of a currency on a network (`fetchDepositAddress`); stable for a seed. */
  fetchDepositAddress(exchangeId: string, code: string, network?: string): DepositAddress {
    return this.venue(exchangeId).wallet.depositAddress(code, network);
  }

  /**
   * Withdraws to an external address (`withdraw`): the amount plus the network fee leave
   * the free balance at once, and the withdrawal is reported `pending`.
   */
  withdraw(exchangeId: string, request: WithdrawalRequest): Withdrawal {
    const venue = this.venue(exchangeId);
    const now = this.clock.now();
    venue.engine.settle(now);
    return venue.wallet.withdraw(request, now);
  }

  /** The withdrawals made so far on a venue, oldest first (`fetchWithdrawals`). */
  fetchWithdrawals(exchangeId: string): Withdrawal[] {
    return this.venue(exchangeId).wallet.withdrawals();
  }

  /** Open futures positions (`fetchPositions`). */
  fetchPositions(exchangeId: string): Position[] {
    const venue = this.venue(exchangeId);
    venue.catalog.requireFutures();
    const now = this.clock.now();
    venue.engine.settle(now);
    return venue.positions.list(now);
  }

  /**
   * Sets the leverage of one futures market, or of all of them when `symbol` is omitted
   * (`setLeverage`). An open position's margin is adjusted to the new leverage; markets
   * with open orders keep their leverage until those orders are canceled.
   */
  setLeverage(exchangeId: string, leverage: number, symbol?: string): LeverageChange {
    const venue = this.venue(exchangeId);
    venue.catalog.requireFutures();
    const now = this.clock.now();
    venue.engine.settle(now);
    return venue.positions.setLeverage(leverage, symbol, now, (market) => venue.engine.openOrderIds(market));
  }

  /**
   * Candles (`fetchOHLCV`): `limit` (default 100, at most 1000) from `since`, or the latest
   * ones, the last of which may still be open.
   */
  fetchOhlcv(exchangeId: string, symbol: string, timeframe: string, since?: number, limit?: number): OhlcvRow[] {
    return this.venue(exchangeId).feed.ohlcv(symbol, timeframe, since, limit, this.clock.now());
  }

  /** The current and previous funding rate of a perpetual future (`fetchFundingRate`). */
  fetchFundingRate(exchangeId: string, symbol: string): FundingRate {
    return this.venue(exchangeId).feed.fundingRate(symbol, this.clock.now());
  }

  /**
   * Long/short account ratio history of a perpetual future (`fetchLongShortRatioHistory`):
   * `limit` points (default 30, at most 500), oldest first, the last at the current period.
   */
  fetchLongShortRatio(exchangeId: string, symbol: string, timeframe: string, limit?: number): LongShortRatio[] {
    return this.venue(exchangeId).feed.longShortRatio(symbol, timeframe, limit, this.clock.now());
  }

  /**
   * Market data of an option on a venue's perpetual future (`fetchOption`), priced with
   * Black-Scholes from the underlying's price and a volatility smile. Any strike and any
   * future expiry in CCXT notation is quoted, e.g. `BTC/USDT:USDT-251226-70000-C`.
   */
  fetchOption(exchangeId: string, symbol: string): OptionContractData {
    return this.venue(exchangeId).feed.option(symbol, this.clock.now());
  }

  /** The ticker of a spot or futures market, with rolling 24-hour statistics (`fetchTicker`). */
  fetchTicker(exchangeId: string, symbol: string): Ticker {
    return this.venue(exchangeId).feed.ticker(symbol, this.clock.now());
  }

  /** The order book of a market (`fetchOrderBook`), `depth` levels a side (default and most 25). */
  fetchOrderBook(exchangeId: string, symbol: string, depth = BOOK_DEPTH): OrderBook {
    return this.venue(exchangeId).feed.orderBook(symbol, depth, this.clock.now());
  }

  /**
   * Recent trades of a market (`fetchTrades`): other participants' generated trades merged
   * with this account's own fills; `limit` (default 50, at most 1000), oldest first.
   */
  fetchTrades(exchangeId: string, symbol: string, since?: number, limit?: number): Trade[] {
    return this.venue(exchangeId).feed.trades(symbol, since, limit, this.clock.now());
  }

  /**
   * Places an order (`createOrder`). Market orders fill at once against the book or are
   * refused; limit orders reserve their funds (spot buys: cost plus fee in the quote
   * currency; spot sells: the amount; futures: margin plus fee in USDT), fill what
   * crosses the book and rest with the remainder. Amounts are truncated and limit prices
   * rounded to the market's precision.
   */
  createOrder(exchangeId: string, request: OrderRequest): Order {
    return this.venue(exchangeId).engine.place(request, this.clock.now());
  }

  /** Cancels an open order (`cancelOrder`) and releases what it reserved. */
  cancelOrder(exchangeId: string, id: string, symbol?: string): Order {
    return this.venue(exchangeId).engine.cancel(id, symbol, this.clock.now());
  }

  /** Orders of the account, open and past (`fetchOrders`), oldest first. */
  fetchOrders(exchangeId: string, query: HistoryQuery = {}): Order[] {
    return this.venue(exchangeId).engine.orders(query, this.clock.now());
  }

  /** The account's own trades (`fetchMyTrades`), oldest first. */
  fetchMyTrades(exchangeId: string, query: HistoryQuery = {}): Trade[] {
    return this.venue(exchangeId).engine.trades(query, this.clock.now());
  }

  /**
   * Computes a technical indicator over the venue's candles: the last `ohlcvLimit`
   * (default 50, at most 1000) values, each with its candle's time.
   */
  calculateIndicator(exchangeId: string, request: IndicatorRequest): IndicatorResult {
    return this.venue(exchangeId).feed.indicator(request, this.clock.now());
  }

  private buildVenue(seed: ExchangeSeed): Venue {
    const catalog = new MarketCatalog(this.seed, seed);
    // Ids start at a venue-specific number, as real exchanges' ids never look alike.
    const base = 1_000_000 + Math.floor(unitHash(this.seed, hashString(seed.id), 7) * 8_000_000);
    const wallet = new AccountWallet({ seed: this.seed, venueId: seed.id, balances: seed.balances, firstWithdrawalId: base + 500_000 });
    const positions = new PositionBook({ catalog, wallet });
    const engine = new MatchingEngine({ catalog, wallet, positions, firstOrderId: base, firstTradeId: base * 3 });
    const feed = new MarketDataFeed({ seed: this.seed, catalog, accountTrades: engine });
    return { catalog, wallet, positions, engine, feed };
  }

  private venue(exchangeId: string): Venue {
    const venue = this.venues.get(exchangeId.trim().toLowerCase());
    if (!venue) {
      throw new DemoExchangeError('exchange.not_found', `exchange ${JSON.stringify(exchangeId)} is not available (available: ${this.exchangeIds().join(', ')})`);
    }
    return venue;
  }
}
