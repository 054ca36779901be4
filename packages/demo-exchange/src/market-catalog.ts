import type { MarketInfo, MarketKind } from './ccxt-structures.js';
import { DemoExchangeError } from './exchange-error.js';
import { ASSETS, FUTURES_FEES, QUOTE, SPOT_FEES } from './exchange-seed.js';
import type { AssetSpec, ExchangeSeed, FeeSchedule } from './exchange-seed.js';
import { PriceModel } from './price-model.js';

/** Levels a side of every generated order book: what `fetchOrderBook` shows at most and market orders can take. */
export const BOOK_DEPTH = 25;

/**
 * One market of a venue: the spot pair `BTC/USDT` or the USDT-margined perpetual future
 * `BTC/USDT:USDT`. Both markets of an asset share one {@link PriceModel}; the future
 * trades at its mark price.
 */
export interface Market {
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  /** The settlement currency of a future; `null` on spot. */
  readonly settle: string | null;
  readonly futures: boolean;
  readonly asset: AssetSpec;
  readonly fees: FeeSchedule;
  readonly model: PriceModel;
}

/**
 * The markets one venue lists: a spot market for every asset of {@link ASSETS} and, when
 * the venue offers futures, a perpetual future on each. Resolves the symbols callers
 * write (`btc/usdt`, `BTC/USDT` for a future) to markets, and names the listed ones when
 * a symbol is not there.
 *
 * @example
 * const catalog = new MarketCatalog(7, { id: 'binance', name: 'Binance', futures: true, balances: {} });
 * catalog.resolve('BTC/USDT', 'futures').symbol; // 'BTC/USDT:USDT'
 */
export class MarketCatalog {
  /** The venue's exchange id, lower case, e.g. `binance`. */
  readonly venueId: string;
  /** Whether the venue lists perpetual futures (and options on them). */
  readonly offersFutures: boolean;
  private readonly markets = new Map<string, Market>();

  /**
   * @param seed seed of the markets' price paths.
   * @param venue the venue, its id already lower case.
   */
  constructor(seed: number, venue: ExchangeSeed) {
    this.venueId = venue.id;
    this.offersFutures = venue.futures;
    for (const asset of ASSETS) {
      const model = new PriceModel(seed, venue.id, asset);
      const spot = `${asset.code}/${QUOTE}`;
      this.markets.set(spot, { symbol: spot, base: asset.code, quote: QUOTE, settle: null, futures: false, asset, fees: SPOT_FEES, model });
      if (venue.futures) {
        const swap = `${asset.code}/${QUOTE}:${QUOTE}`;
        this.markets.set(swap, { symbol: swap, base: asset.code, quote: QUOTE, settle: QUOTE, futures: true, asset, fees: FUTURES_FEES, model });
      }
    }
  }

  /** The listed markets in CCXT's layout (`fetchMarkets`), spot and future of each asset in turn. */
  list(): MarketInfo[] {
    return [...this.markets.values()].map((m) => {
      const leverage = m.futures ? { min: 1, max: m.asset.maxLeverage } : null;
      return {
        id: m.symbol.replace('/', '').replace(/:.*/, ''),
        symbol: m.symbol,
        base: m.base,
        quote: m.quote,
        settle: m.settle,
        type: m.futures ? 'swap' : 'spot',
        spot: !m.futures,
        swap: m.futures,
        contract: m.futures,
        linear: m.futures ? true : null,
        contractSize: m.futures ? 1 : null,
        maker: m.fees.maker,
        taker: m.fees.taker,
        precision: { price: 10 ** -m.asset.priceDecimals, amount: 10 ** -m.asset.amountDecimals },
        limits: { amount: { min: m.asset.minAmount }, leverage },
      };
    });
  }

  /** The perpetual futures, in listing order; none on a spot-only venue. */
  futuresMarkets(): Market[] {
    return [...this.markets.values()].filter((m) => m.futures);
  }

  /** The market of exactly `symbol` (unified, upper case), if listed. */
  find(symbol: string): Market | undefined {
    return this.markets.get(symbol);
  }

  /**
   * The market a caller's symbol names. `kind` `futures` also accepts the spot form of a
   * future's symbol (`BTC/USDT` for `BTC/USDT:USDT`); `spot` refuses a future's symbol.
   *
   * @throws DemoExchangeError `symbol.bad` naming the listed symbols; `exchange.not_supported`
   * for `futures` on a spot-only venue.
   */
  resolve(symbol: string, kind: MarketKind | 'any'): Market {
    const wanted = symbol.trim().toUpperCase();
    if (kind === 'futures') {
      this.requireFutures();
      const swap = this.markets.get(wanted.includes(':') ? wanted : `${wanted}:${wanted.split('/')[1] ?? ''}`);
      if (swap?.futures) return swap;
      throw new DemoExchangeError('symbol.bad', `${this.venueId} does not have futures market symbol ${JSON.stringify(symbol)} (futures: ${this.symbols(true)})`);
    }
    const market = this.markets.get(wanted);
    if (market && (kind === 'any' || !market.futures)) return market;
    if (market && kind === 'spot') {
      throw new DemoExchangeError('symbol.bad', `${market.symbol} is a futures market on ${this.venueId}; spot symbols look like ${market.base}/${market.quote}`);
    }
    throw new DemoExchangeError('symbol.bad', `${this.venueId} does not have market symbol ${JSON.stringify(symbol)} (markets: ${this.symbols(kind === 'any' ? undefined : false)})`);
  }

  /** @throws DemoExchangeError (`exchange.not_supported`) when the venue lists no futures. */
  requireFutures(): void {
    if (!this.offersFutures) throw new DemoExchangeError('exchange.not_supported', `${this.venueId} does not offer futures or options markets`);
  }

  private symbols(futures: boolean | undefined): string {
    return [...this.markets.values()].filter((m) => futures === undefined || m.futures === futures).map((m) => m.symbol).join(', ');
  }
}
