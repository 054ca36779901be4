import type { AccountWallet, BalanceSnapshot } from './account-wallet.js';
import { isoDatetime } from './ccxt-structures.js';
import type { HistoryQuery, Order, OrderRequest, OrderSide, OrderStatus, Trade } from './ccxt-structures.js';
import { EPSILON, roundTo, tidy, truncateTo } from './decimal-rounding.js';
import { DemoExchangeError } from './exchange-error.js';
import { checkSince, clampLimit, pickPage } from './history-paging.js';
import { BOOK_DEPTH } from './market-catalog.js';
import type { Market, MarketCatalog } from './market-catalog.js';
import type { AccountTradeSource } from './market-data-feed.js';
import type { PositionBook, PositionSnapshot } from './position-book.js';
import type { BookLevel } from './price-model.js';

/** What the matching engine of one venue works on. */
export interface MatchingEngineOptions {
  /** The venue's markets and their generated order books. */
  readonly catalog: MarketCatalog;
  /** The account that pays for fills and holds open orders' reservations. */
  readonly wallet: AccountWallet;
  /** The account's futures positions, which futures fills move. */
  readonly positions: PositionBook;
  /** Id of the first order; later ones count up from it. */
  readonly firstOrderId: number;
  /** Id of the first trade; later ones count up from it. */
  readonly firstTradeId: number;
}

interface OrderState {
  readonly id: string;
  readonly clientOrderId: string | null;
  readonly timestamp: number;
  readonly market: Market;
  readonly type: 'limit' | 'market';
  readonly side: OrderSide;
  readonly price: number | null;
  readonly amount: number;
  lastTradeTimestamp: number | null;
  filled: number;
  cost: number;
  fee: number;
  status: OrderStatus;
  /** What is still held in `used` for this order, in `reservedCurrency`. */
  reserved: number;
  readonly reservedCurrency: string;
  readonly trades: Trade[];
  cancelReason: string | null;
}

interface Fill {
  readonly amount: number;
  readonly price: number;
}

/** The account's state before an order touched it: its balances and the position on the order's market. */
interface Checkpoint {
  readonly balances: BalanceSnapshot;
  readonly position: PositionSnapshot;
}

/**
 * The order matching of one venue, spot and futures. Market orders fill at once against
 * the generated book or are refused; limit orders reserve their funds, take what crosses
 * the book as taker and rest with the remainder, which fills as maker at the limit price
 * once the market trades through it. Every entry point first fills the resting orders
 * the market has reached by `now` ({@link settle}), and an order that would leave a
 * balance negative is refused with nothing changed.
 *
 * @example
 * const order = engine.place({ kind: 'spot', symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.1, price: 60_000 }, now);
 * engine.cancel(order.id, undefined, now);
 */
export class MatchingEngine implements AccountTradeSource {
  private readonly catalog: MarketCatalog;
  private readonly wallet: AccountWallet;
  private readonly positions: PositionBook;
  private readonly orderLog = new Map<string, OrderState>();
  /** Open orders in placement order; {@link settle} walks them on every call. */
  private open: OrderState[] = [];
  private readonly tradeLog: Trade[] = [];
  private nextOrder: number;
  private nextTrade: number;

  constructor(options: MatchingEngineOptions) {
    this.catalog = options.catalog;
    this.wallet = options.wallet;
    this.positions = options.positions;
    this.nextOrder = options.firstOrderId;
    this.nextTrade = options.firstTradeId;
  }

  /**
   * Places an order (`createOrder`). Market orders fill at once against the book or are
   * refused; limit orders reserve their funds (spot buys: cost plus fee in the quote
   * currency; spot sells: the amount; futures: margin plus fee in USDT), fill what
   * crosses the book and rest with the remainder. Amounts are truncated and limit prices
   * rounded to the market's precision.
   *
   * @throws DemoExchangeError `symbol.bad`, `exchange.not_supported`, `order.invalid`,
   * `funds.insufficient`; a refused order changes nothing.
   */
  place(request: OrderRequest, now: number): Order {
    this.settle(now);
    const market = this.catalog.resolve(request.symbol, request.kind);
    if (request.side !== 'buy' && request.side !== 'sell') {
      throw new DemoExchangeError('order.invalid', `side must be "buy" or "sell", got ${JSON.stringify(request.side)}`);
    }
    if (!Number.isFinite(request.amount) || request.amount <= 0) {
      throw new DemoExchangeError('order.invalid', `amount must be a positive number, got ${request.amount}`);
    }
    const amount = truncateTo(request.amount, market.asset.amountDecimals);
    if (amount < market.asset.minAmount) {
      throw new DemoExchangeError('order.invalid', `amount ${request.amount} ${market.base} is below the minimum ${market.asset.minAmount} ${market.base} of ${market.symbol} on ${this.catalog.venueId}`);
    }
    let price: number | null = null;
    if (request.type === 'limit') {
      if (request.price === undefined || !Number.isFinite(request.price) || request.price <= 0) {
        throw new DemoExchangeError('order.invalid', `a limit order needs a positive price, got ${request.price}`);
      }
      price = roundTo(request.price, market.asset.priceDecimals);
      if (price <= 0) throw new DemoExchangeError('order.invalid', `price ${request.price} rounds to 0 at the ${market.symbol} tick size`);
    }
    const book = market.model.book(now, market.futures, BOOK_DEPTH);
    const levels = request.side === 'buy' ? book.asks : book.bids;
    const fills = walkBook(levels, amount, request.side, price);
    if (request.type === 'market') {
      const available = fills.reduce((s, f) => s + f.amount, 0);
      if (available + EPSILON < amount) {
        throw new DemoExchangeError(
          'order.invalid',
          `market order of ${amount} ${market.base} exceeds the liquidity of the ${market.symbol} order book on ${this.catalog.venueId} (${truncateTo(available, market.asset.amountDecimals)} ${market.base} within ${BOOK_DEPTH} levels)`,
        );
      }
    }
    const leverage = this.positions.leverageOf(market.symbol);
    const reservedCurrency = market.futures || request.side === 'buy' ? market.quote : market.base;
    const reserve =
      price === null ? 0 : market.futures ? (amount * price) / leverage + amount * price * market.fees.taker : request.side === 'buy' ? amount * price * (1 + market.fees.taker) : amount;
    const order: OrderState = {
      id: String(this.nextOrder),
      clientOrderId: request.clientOrderId ?? null,
      timestamp: now,
      market,
      type: request.type,
      side: request.side,
      price,
      amount,
      lastTradeTimestamp: null,
      filled: 0,
      cost: 0,
      fee: 0,
      status: 'open',
      reserved: tidy(reserve),
      reservedCurrency,
      trades: [],
      cancelReason: null,
    };
    const checkpoint = this.checkpoint(market);
    this.wallet.reserve(reservedCurrency, order.reserved);
    const executed: { fill: Fill; fee: number }[] = [];
    try {
      for (const fill of fills) executed.push({ fill, fee: this.applyFill(order, fill, 'taker', leverage, now) });
      this.wallet.assertSolvent(checkpoint.balances);
    } catch (error) {
      this.rollback(checkpoint);
      throw error;
    }
    this.nextOrder++;
    this.orderLog.set(order.id, order);
    for (const { fill, fee } of executed) this.recordTrade(order, fill, fee, 'taker', now);
    if (order.status === 'open') this.open.push(order);
    return orderView(order);
  }

  /**
   * Cancels an open order (`cancelOrder`) and releases what it reserved.
   *
   * @param symbol when given, the order must be on this market.
   * @throws DemoExchangeError (`order.not_found`) for an unknown id, an order of another
   * market, or one already filled or canceled.
   */
  cancel(id: string, symbol: string | undefined, now: number): Order {
    this.settle(now);
    const order = this.orderLog.get(id.trim());
    if (symbol !== undefined) {
      const market = this.catalog.resolve(symbol, 'any');
      if (!order || order.market !== market) {
        throw new DemoExchangeError('order.not_found', `${this.catalog.venueId} has no order ${JSON.stringify(id)} on ${market.symbol}`);
      }
    }
    if (!order) throw new DemoExchangeError('order.not_found', `${this.catalog.venueId} has no order ${JSON.stringify(id)}`);
    if (order.status !== 'open') {
      throw new DemoExchangeError('order.not_found', `${this.catalog.venueId} has no open order ${order.id}: it is already ${order.status}${order.status === 'closed' ? ' (filled)' : ''}`);
    }
    this.releaseReservation(order);
    order.status = 'canceled';
    order.cancelReason = 'canceled by user';
    this.open = this.open.filter((o) => o !== order);
    return orderView(order);
  }

  /** Orders of the account, open and past (`fetchOrders`), oldest first. */
  orders(query: HistoryQuery, now: number): Order[] {
    this.settle(now);
    return this.history([...this.orderLog.values()], query, (o) => o.market.symbol).map(orderView);
  }

  /** The account's own trades (`fetchMyTrades`), oldest first. */
  trades(query: HistoryQuery, now: number): Trade[] {
    this.settle(now);
    return this.history(this.tradeLog, query, (t) => t.symbol);
  }

  /** Every fill of the account up to `now`, oldest first, after {@link settle}. */
  accountTrades(now: number): readonly Trade[] {
    this.settle(now);
    return this.tradeLog;
  }

  /** The ids of the open orders on `market`, oldest first. */
  openOrderIds(market: Market): string[] {
    return this.open.filter((o) => o.market === market).map((o) => o.id);
  }

  /**
   * Fills the resting limit orders the market trades through at `now`, as maker at
   * their limit price. A futures fill whose realised loss exceeds the account's margin
   * cancels the order instead of leaving the account negative.
   */
  settle(now: number): void {
    if (this.open.length === 0) return;
    let changed = false;
    for (const order of this.open) {
      const price = order.price;
      // The book an order was placed against has already been taken from; only a later
      // market that trades through the limit price fills it.
      if (price === null || now <= order.timestamp) continue;
      const top = order.market.model.topOfBook(now, order.market.futures);
      const crosses = order.side === 'buy' ? top.ask < price : top.bid > price;
      if (!crosses) continue;
      changed = true;
      const fill: Fill = { amount: tidy(order.amount - order.filled), price };
      const checkpoint = this.checkpoint(order.market);
      const before = { filled: order.filled, cost: order.cost, fee: order.fee, status: order.status, reserved: order.reserved };
      try {
        const fee = this.applyFill(order, fill, 'maker', this.positions.leverageOf(order.market.symbol), now);
        this.wallet.assertSolvent(checkpoint.balances);
        this.recordTrade(order, fill, fee, 'maker', now);
      } catch (error) {
        if (!(error instanceof DemoExchangeError) || error.code !== 'funds.insufficient') throw error;
        // Only a futures fill whose realised loss exceeds the account's margin lands here;
        // the exchange cancels the order instead of leaving the account negative.
        this.rollback(checkpoint);
        Object.assign(order, before);
        this.releaseReservation(order);
        order.status = 'canceled';
        order.cancelReason = 'insufficient margin when the price reached the order';
      }
    }
    if (changed) this.open = this.open.filter((o) => o.status === 'open');
  }

  /** Moves balances (and the futures position) for one fill; returns the fee charged. */
  private applyFill(order: OrderState, fill: Fill, role: 'taker' | 'maker', leverage: number, now: number): number {
    const market = order.market;
    const remainingBefore = order.amount - order.filled;
    if (order.reserved > 0) {
      // Release the reservation in proportion to the part of the order that fills.
      const share = fill.amount >= remainingBefore - EPSILON ? order.reserved : (order.reserved * fill.amount) / remainingBefore;
      this.wallet.adjust(order.reservedCurrency, share, -share);
      order.reserved = tidy(order.reserved - share);
    }
    const notional = fill.amount * fill.price;
    const fee = notional * market.fees[role];
    if (!market.futures) {
      if (order.side === 'buy') {
        this.wallet.adjust(market.quote, -(notional + fee));
        this.wallet.adjust(market.base, fill.amount);
      } else {
        this.wallet.adjust(market.base, -fill.amount);
        this.wallet.adjust(market.quote, notional - fee);
      }
    } else {
      this.wallet.adjust(market.quote, -fee);
      this.positions.applyFill(market, order.side, fill, leverage, now);
    }
    order.filled = tidy(order.filled + fill.amount);
    order.cost = tidy(order.cost + notional);
    order.fee = tidy(order.fee + fee);
    if (order.filled >= order.amount - EPSILON) {
      order.status = 'closed';
      if (order.reserved !== 0) this.releaseReservation(order);
    }
    this.wallet.roundBalances();
    return fee;
  }

  private releaseReservation(order: OrderState): void {
    if (order.reserved === 0) return;
    this.wallet.release(order.reservedCurrency, order.reserved);
    order.reserved = 0;
  }

  private checkpoint(market: Market): Checkpoint {
    return { balances: this.wallet.snapshot(), position: this.positions.snapshot(market.symbol) };
  }

  private rollback(checkpoint: Checkpoint): void {
    this.wallet.restore(checkpoint.balances);
    this.positions.restore(checkpoint.position);
  }

  private recordTrade(order: OrderState, fill: Fill, fee: number, role: 'taker' | 'maker', now: number): void {
    const trade: Trade = Object.freeze({
      info: {},
      id: String(this.nextTrade++),
      order: order.id,
      timestamp: now,
      datetime: isoDatetime(now),
      symbol: order.market.symbol,
      type: order.type,
      side: order.side,
      takerOrMaker: role,
      price: fill.price,
      amount: fill.amount,
      cost: tidy(fill.amount * fill.price),
      fee: Object.freeze({ currency: order.market.quote, cost: tidy(fee) }),
    });
    order.trades.push(trade);
    order.lastTradeTimestamp = now;
    this.tradeLog.push(trade);
  }

  /** The entries a history query selects: of its market, from its `since`, paged by its `limit`. */
  private history<T extends { readonly timestamp: number }>(entries: readonly T[], query: HistoryQuery, symbolOf: (entry: T) => string): T[] {
    const market = query.symbol === undefined ? undefined : this.catalog.resolve(query.symbol, 'any');
    checkSince(query.since);
    const limit = query.limit === undefined ? undefined : clampLimit(query.limit, 1, Number.MAX_SAFE_INTEGER, 'limit');
    const selected = entries.filter((e) => (market === undefined || symbolOf(e) === market.symbol) && (query.since === undefined || e.timestamp >= query.since));
    return pickPage(selected, query.since, limit);
  }
}

function orderView(order: OrderState): Order {
  const info: Record<string, unknown> = {};
  if (order.cancelReason !== null) info.cancelReason = order.cancelReason;
  return {
    info,
    id: order.id,
    clientOrderId: order.clientOrderId,
    timestamp: order.timestamp,
    datetime: isoDatetime(order.timestamp),
    lastTradeTimestamp: order.lastTradeTimestamp,
    symbol: order.market.symbol,
    type: order.type,
    timeInForce: order.type === 'market' ? 'IOC' : 'GTC',
    postOnly: false,
    reduceOnly: false,
    side: order.side,
    price: order.price,
    average: order.filled > 0 ? roundTo(order.cost / order.filled, order.market.asset.priceDecimals + 4) : null,
    amount: order.amount,
    filled: order.filled,
    remaining: tidy(order.amount - order.filled),
    cost: order.cost,
    status: order.status,
    fee: { currency: order.market.quote, cost: order.fee },
    trades: [...order.trades],
  };
}

/** The levels an order of `amount` takes from the book, stopping at the limit price. */
function walkBook(levels: readonly BookLevel[], amount: number, side: OrderSide, limit: number | null): Fill[] {
  const fills: Fill[] = [];
  let left = amount;
  for (const [price, size] of levels) {
    if (left <= EPSILON) break;
    if (limit !== null && (side === 'buy' ? price > limit : price < limit)) break;
    const take = Math.min(left, size);
    fills.push({ amount: tidy(take), price });
    left = tidy(left - take);
  }
  return fills;
}
