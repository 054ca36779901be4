import type { AccountWallet } from './account-wallet.js';
import { isoDatetime } from './ccxt-structures.js';
import type { LeverageChange, OrderSide, Position } from './ccxt-structures.js';
import { EPSILON, roundTo, tidy } from './decimal-rounding.js';
import { DemoExchangeError } from './exchange-error.js';
import { DEFAULT_LEVERAGE, MAINTENANCE_MARGIN_RATE, QUOTE } from './exchange-seed.js';
import type { Market, MarketCatalog } from './market-catalog.js';

/** What the position book needs of one venue. */
export interface PositionBookOptions {
  /** The venue's markets; leverage applies to its perpetual futures. */
  readonly catalog: MarketCatalog;
  /** The account whose USDT holds the positions' margin and takes their profit and loss. */
  readonly wallet: AccountWallet;
}

/** One market's position at a moment, to roll a failed order back to. */
export interface PositionSnapshot {
  readonly symbol: string;
  readonly position: Readonly<PositionState> | undefined;
}

interface PositionState {
  readonly market: Market;
  side: 'long' | 'short';
  contracts: number;
  entryPrice: number;
  initialMargin: number;
  realizedPnl: number;
  readonly timestamp: number;
  lastUpdateTimestamp: number;
}

/**
 * The account's futures positions on one venue and the leverage of each perpetual
 * future. Positions are one-way and isolated: a fill against a position reduces it
 * (realising profit and loss and releasing margin) before any remainder opens the other
 * side; opening moves `amount × price / leverage` USDT of margin from free to used.
 *
 * @example
 * book.applyFill(market, 'buy', { amount: 2, price: 100 }, 10, now); // long 2 @ 100, 20 USDT margin
 * book.applyFill(market, 'sell', { amount: 3, price: 110 }, 10, now); // +20 USDT realised, short 1 @ 110
 */
export class PositionBook {
  private readonly catalog: MarketCatalog;
  private readonly wallet: AccountWallet;
  private readonly positions = new Map<string, PositionState>();
  private readonly leverage = new Map<string, number>();

  constructor(options: PositionBookOptions) {
    this.catalog = options.catalog;
    this.wallet = options.wallet;
    for (const m of this.catalog.futuresMarkets()) this.leverage.set(m.symbol, DEFAULT_LEVERAGE);
  }

  /** The leverage orders on `symbol` are margined at. */
  leverageOf(symbol: string): number {
    return this.leverage.get(symbol) ?? DEFAULT_LEVERAGE;
  }

  /** The open positions in CCXT's layout (`fetchPositions`), valued at the mark price at `now`. */
  list(now: number): Position[] {
    return [...this.positions.values()].map((p) => this.view(p, now));
  }

  /**
   * Sets the leverage of one futures market, or of all of them when `symbol` is omitted
   * (`setLeverage`). An open position's margin is adjusted to the new leverage; markets
   * with open orders keep their leverage until those orders are canceled.
   *
   * @param openOrderIds the ids of the open orders on a market, whose reservations were
   * computed at the current leverage.
   * @throws DemoExchangeError `request.bad` (leverage out of range, open orders),
   * `symbol.bad`, `funds.insufficient` (the extra margin is not free); nothing changes then.
   */
  setLeverage(leverage: number, symbol: string | undefined, now: number, openOrderIds: (market: Market) => readonly string[]): LeverageChange {
    if (!Number.isInteger(leverage) || leverage < 1) throw new DemoExchangeError('request.bad', `leverage must be a positive integer, got ${leverage}`);
    const markets = symbol === undefined ? this.catalog.futuresMarkets() : [this.catalog.resolve(symbol, 'futures')];
    let extraMargin = 0;
    for (const m of markets) {
      if (leverage > m.asset.maxLeverage) {
        throw new DemoExchangeError('request.bad', `leverage ${leverage} exceeds the maximum ${m.asset.maxLeverage} of ${m.symbol} on ${this.catalog.venueId}`);
      }
      const blocking = openOrderIds(m);
      if (blocking.length > 0 && this.leverage.get(m.symbol) !== leverage) {
        throw new DemoExchangeError('request.bad', `cannot change the leverage of ${m.symbol} on ${this.catalog.venueId} while it has open orders (${blocking.join(', ')}); cancel them first`);
      }
      const position = this.positions.get(m.symbol);
      if (position) extraMargin += (position.contracts * position.entryPrice) / leverage - position.initialMargin;
    }
    const available = this.wallet.free(QUOTE);
    if (extraMargin > available + EPSILON) {
      throw this.wallet.insufficient(`leverage ${leverage} needs ${tidy(extraMargin)} ${QUOTE} more margin, has ${tidy(available)} ${QUOTE} available`);
    }
    for (const m of markets) {
      this.leverage.set(m.symbol, leverage);
      const position = this.positions.get(m.symbol);
      if (position) {
        const margin = (position.contracts * position.entryPrice) / leverage;
        this.wallet.reserve(QUOTE, margin - position.initialMargin);
        position.initialMargin = margin;
        position.lastUpdateTimestamp = now;
      }
    }
    return {
      info: {},
      symbol: symbol === undefined ? null : (markets[0]?.symbol ?? null),
      symbols: markets.map((m) => m.symbol),
      leverage,
      longLeverage: leverage,
      shortLeverage: leverage,
      marginMode: 'isolated',
    };
  }

  /**
   * Books one fill of a futures order: closes against an opposite position first, then
   * opens or adds to one at `leverage`, posting margin and profit and loss to the wallet's
   * USDT (unrounded; the caller rounds once every leg of the fill is posted).
   */
  applyFill(market: Market, side: OrderSide, fill: { readonly amount: number; readonly price: number }, leverage: number, now: number): void {
    const direction = side === 'buy' ? 'long' : 'short';
    let remaining = fill.amount;
    const position = this.positions.get(market.symbol);
    if (position && position.side !== direction) {
      const closing = Math.min(remaining, position.contracts);
      const pnl = closing * (fill.price - position.entryPrice) * (position.side === 'long' ? 1 : -1);
      const released = (position.initialMargin * closing) / position.contracts;
      this.wallet.adjust(QUOTE, released + pnl, -released);
      position.contracts = tidy(position.contracts - closing);
      position.initialMargin -= released;
      position.realizedPnl += pnl;
      position.lastUpdateTimestamp = now;
      remaining = tidy(remaining - closing);
      if (position.contracts <= EPSILON) this.positions.delete(market.symbol);
    }
    if (remaining <= EPSILON) return;
    const margin = (remaining * fill.price) / leverage;
    this.wallet.adjust(QUOTE, -margin, margin);
    const current = this.positions.get(market.symbol);
    if (current) {
      current.entryPrice = (current.contracts * current.entryPrice + remaining * fill.price) / (current.contracts + remaining);
      current.contracts = tidy(current.contracts + remaining);
      current.initialMargin += margin;
      current.lastUpdateTimestamp = now;
    } else {
      this.positions.set(market.symbol, {
        market,
        side: direction,
        contracts: remaining,
        entryPrice: fill.price,
        initialMargin: margin,
        realizedPnl: 0,
        timestamp: now,
        lastUpdateTimestamp: now,
      });
    }
  }

  /** The position on `symbol` as it is now, for {@link restore}. */
  snapshot(symbol: string): PositionSnapshot {
    const position = this.positions.get(symbol);
    return { symbol, position: position ? { ...position } : undefined };
  }

  /** Puts the position of a snapshot's market back as it was. */
  restore(snapshot: PositionSnapshot): void {
    if (snapshot.position) this.positions.set(snapshot.symbol, { ...snapshot.position });
    else this.positions.delete(snapshot.symbol);
  }

  private view(p: PositionState, now: number): Position {
    const decimals = p.market.asset.priceDecimals;
    const mark = roundTo(p.market.model.mark(now), decimals);
    const sign = p.side === 'long' ? 1 : -1;
    const leverage = this.leverageOf(p.market.symbol);
    const notional = p.contracts * mark;
    const unrealized = (mark - p.entryPrice) * p.contracts * sign;
    const liquidation = p.entryPrice * (1 - sign * (1 / leverage - MAINTENANCE_MARGIN_RATE));
    const maintenance = notional * MAINTENANCE_MARGIN_RATE;
    return {
      info: {},
      id: `${this.catalog.venueId}:${p.market.symbol}`,
      symbol: p.market.symbol,
      timestamp: p.timestamp,
      datetime: isoDatetime(p.timestamp),
      lastUpdateTimestamp: p.lastUpdateTimestamp,
      side: p.side,
      contracts: p.contracts,
      contractSize: 1,
      entryPrice: roundTo(p.entryPrice, decimals + 4),
      markPrice: mark,
      notional: tidy(notional),
      leverage,
      collateral: tidy(p.initialMargin),
      initialMargin: tidy(p.initialMargin),
      initialMarginPercentage: roundTo(1 / leverage, 6),
      maintenanceMargin: tidy(maintenance),
      maintenanceMarginPercentage: MAINTENANCE_MARGIN_RATE,
      unrealizedPnl: tidy(unrealized),
      realizedPnl: tidy(p.realizedPnl),
      liquidationPrice: roundTo(Math.max(0, liquidation), decimals),
      marginMode: 'isolated',
      marginRatio: p.initialMargin + unrealized > 0 ? roundTo(maintenance / (p.initialMargin + unrealized), 6) : 1,
      percentage: p.initialMargin > 0 ? roundTo((100 * unrealized) / p.initialMargin, 4) : 0,
      hedged: false,
    };
  }
}
