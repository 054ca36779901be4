import { describe, expect, it } from 'vitest';
import { manualClock } from './clock.js';
import type { ManualClock } from './clock.js';
import { createDemoExchange } from './demo-exchange.js';
import type { DemoExchange } from './demo-exchange.js';
import { DemoExchangeError } from './exchange-error.js';
import type { DemoExchangeErrorCode } from './exchange-error.js';
import { FUTURES_FEES, SPOT_FEES } from './exchange-seed.js';
import { sma } from './technical-indicators.js';

const START = '2025-06-02T12:00:00Z';
const HOUR = 3_600_000;

function setup(seed = 7): { exchange: DemoExchange; clock: ManualClock } {
  const clock = manualClock(START);
  return { exchange: createDemoExchange({ seed, clock }), clock };
}

function expectError(run: () => unknown, code: DemoExchangeErrorCode, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DemoExchangeError);
  expect((caught as DemoExchangeError).code).toBe(code);
  expect((caught as DemoExchangeError).message).toMatch(message);
}

function free(exchange: DemoExchange, venue: string, code: string): number {
  return (exchange.fetchBalance(venue).free[code] ?? Number.NaN) as number;
}

function used(exchange: DemoExchange, venue: string, code: string): number {
  return (exchange.fetchBalance(venue).used[code] ?? Number.NaN) as number;
}

describe('seeded state', () => {
  it('starts every venue with its documented balances', () => {
    const { exchange } = setup();
    expect(exchange.exchangeIds()).toEqual(['binance', 'kraken', 'coinbase']);
    const balance = exchange.fetchBalance('binance');
    expect(balance.total).toEqual({ BTC: 1.5, ETH: 20, SOL: 400, USDT: 100_000 });
    expect(balance.USDT).toEqual({ free: 100_000, used: 0, total: 100_000 });
    expect(exchange.fetchBalance('Coinbase').free.USDT).toBe(25_000);
    expect(exchange.listMarkets('coinbase').map((m) => m.symbol)).toEqual(['BTC/USDT', 'ETH/USDT', 'SOL/USDT']);
    expect(exchange.listMarkets('binance').filter((m) => m.swap).map((m) => m.symbol)).toEqual(['BTC/USDT:USDT', 'ETH/USDT:USDT', 'SOL/USDT:USDT']);
  });

  it('generates the same market data for the same seed and time, and different data for another seed', () => {
    const a = setup(7).exchange;
    const b = setup(7).exchange;
    const c = setup(8).exchange;
    expect(a.fetchOhlcv('binance', 'BTC/USDT', '1h', undefined, 50)).toEqual(b.fetchOhlcv('binance', 'BTC/USDT', '1h', undefined, 50));
    expect(a.fetchTicker('kraken', 'ETH/USDT')).toEqual(b.fetchTicker('kraken', 'ETH/USDT'));
    expect(a.fetchDepositAddress('binance', 'BTC')).toEqual(b.fetchDepositAddress('binance', 'BTC'));
    expect(a.fetchOhlcv('binance', 'BTC/USDT', '1h', undefined, 50)).not.toEqual(c.fetchOhlcv('binance', 'BTC/USDT', '1h', undefined, 50));
  });

  it('refuses a malformed venue list', () => {
    expectError(() => createDemoExchange({ exchanges: [] }), 'request.bad', /at least one exchange/);
    expectError(
      () => createDemoExchange({ exchanges: [{ id: 'x', name: 'X', futures: false, balances: { DOGE: 1 } }] }),
      'request.bad',
      /unknown currency DOGE/,
    );
  });
});

describe('candles', () => {
  it('are contiguous, well-formed and end with the open candle', () => {
    const { exchange, clock } = setup();
    clock.advance(25 * 60_000);
    const rows = exchange.fetchOhlcv('binance', 'BTC/USDT', '15m', undefined, 40);
    expect(rows).toHaveLength(40);
    rows.forEach((row, i) => {
      const [ts, open, high, low, closePrice, volume] = row;
      expect(high).toBeGreaterThanOrEqual(Math.max(open, closePrice));
      expect(low).toBeLessThanOrEqual(Math.min(open, closePrice));
      expect(volume).toBeGreaterThanOrEqual(0);
      const previous = rows[i - 1];
      if (previous) {
        expect(ts - previous[0]).toBe(15 * 60_000);
        expect(open).toBe(previous[4]);
      }
    });
    const last = rows[39];
    expect(last?.[0]).toBe(Date.parse('2025-06-02T12:15:00Z'));
    expect(last?.[4]).toBe(exchange.fetchTicker('binance', 'BTC/USDT').last);
  });

  it('start at since and stop at the current candle', () => {
    const { exchange } = setup();
    const since = Date.parse('2025-06-02T09:30:00Z');
    const rows = exchange.fetchOhlcv('binance', 'ETH/USDT', '1h', since, 100);
    expect(rows.map((r) => new Date(r[0]).toISOString())).toEqual(['2025-06-02T10:00:00.000Z', '2025-06-02T11:00:00.000Z', '2025-06-02T12:00:00.000Z']);
    expect(exchange.fetchOhlcv('binance', 'ETH/USDT', '1M', undefined, 3).map((r) => new Date(r[0]).toISOString())).toEqual([
      '2025-04-01T00:00:00.000Z',
      '2025-05-01T00:00:00.000Z',
      '2025-06-01T00:00:00.000Z',
    ]);
    expect(exchange.fetchOhlcv('binance', 'ETH/USDT', '1w', undefined, 1)[0]?.[0]).toBe(Date.parse('2025-06-02T00:00:00Z'));
    expectError(() => exchange.fetchOhlcv('binance', 'ETH/USDT', '2m'), 'request.bad', /timeframe "2m" is not supported/);
  });
});

describe('spot market orders', () => {
  it('fill against the book and move balances by cost and taker fee', () => {
    const { exchange } = setup();
    const book = exchange.fetchOrderBook('binance', 'BTC/USDT');
    const amount = 1.2;
    let left = amount;
    let cost = 0;
    for (const [price, size] of book.asks) {
      const take = Math.min(left, size);
      cost += take * price;
      left -= take;
      if (left <= 1e-12) break;
    }
    const order = exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount });
    expect(order.status).toBe('closed');
    expect(order.filled).toBe(amount);
    expect(order.cost).toBeCloseTo(cost, 6);
    expect(order.fee.cost).toBeCloseTo(cost * SPOT_FEES.taker, 6);
    expect(order.trades.reduce((s, t) => s + t.amount, 0)).toBeCloseTo(amount, 10);
    expect(order.trades[0]?.price).toBe(book.asks[0]?.[0]);
    expect(free(exchange, 'binance', 'BTC')).toBeCloseTo(2.7, 10);
    expect(free(exchange, 'binance', 'USDT')).toBeCloseTo(100_000 - cost * (1 + SPOT_FEES.taker), 4);
    expect(exchange.fetchMyTrades('binance', { symbol: 'BTC/USDT' })).toHaveLength(order.trades.length);
  });

  it('sell the base currency for quote minus the fee', () => {
    const { exchange } = setup();
    const bid = exchange.fetchOrderBook('binance', 'SOL/USDT').bids[0];
    const order = exchange.createOrder('binance', { kind: 'spot', symbol: 'sol/usdt', type: 'market', side: 'sell', amount: 1 });
    expect(order.trades).toHaveLength(1);
    expect(order.average).toBe(bid?.[0]);
    expect(free(exchange, 'binance', 'SOL')).toBe(399);
    expect(free(exchange, 'binance', 'USDT')).toBeCloseTo(100_000 + (bid?.[0] ?? 0) * (1 - SPOT_FEES.taker), 6);
  });

  it('are refused without funds, leaving balances untouched', () => {
    const { exchange } = setup();
    const before = exchange.fetchBalance('coinbase');
    expectError(
      () => exchange.createOrder('coinbase', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 1 }),
      'funds.insufficient',
      /coinbase account has insufficient balance .* needs [\d.]+ USDT, has 25000 USDT available/,
    );
    expectError(
      () => exchange.createOrder('coinbase', { kind: 'spot', symbol: 'ETH/USDT', type: 'market', side: 'sell', amount: 5 }),
      'funds.insufficient',
      /has 4 ETH available/,
    );
    expect(exchange.fetchBalance('coinbase')).toEqual(before);
    expect(exchange.fetchOrders('coinbase')).toEqual([]);
  });

  it('are refused beyond the book, below the minimum, or on a futures symbol', () => {
    const { exchange } = setup();
    expectError(() => exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 500 }), 'order.invalid', /exceeds the liquidity/);
    expectError(() => exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.000001 }), 'order.invalid', /below the minimum 0.00001 BTC/);
    expectError(() => exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT:USDT', type: 'market', side: 'buy', amount: 0.1 }), 'symbol.bad', /is a futures market/);
    expectError(() => exchange.createOrder('binance', { kind: 'spot', symbol: 'DOGE/USDT', type: 'market', side: 'buy', amount: 1 }), 'symbol.bad', /does not have market symbol "DOGE\/USDT"/);
    expectError(() => exchange.createOrder('bitmex', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 1 }), 'exchange.not_found', /available: binance, kraken, coinbase/);
  });
});

describe('spot limit orders', () => {
  it('rest below the market, reserve cost plus fee, and release it on cancel', () => {
    const { exchange } = setup();
    const ask = exchange.fetchTicker('binance', 'ETH/USDT').ask;
    const price = Math.floor(ask * 0.9);
    const order = exchange.createOrder('binance', { kind: 'spot', symbol: 'ETH/USDT', type: 'limit', side: 'buy', amount: 2, price, clientOrderId: 'mine-1' });
    expect(order).toMatchObject({ status: 'open', filled: 0, remaining: 2, price, clientOrderId: 'mine-1', timeInForce: 'GTC' });
    const reserved = 2 * price * (1 + SPOT_FEES.taker);
    expect(used(exchange, 'binance', 'USDT')).toBeCloseTo(reserved, 6);
    expect(free(exchange, 'binance', 'USDT')).toBeCloseTo(100_000 - reserved, 6);

    const canceled = exchange.cancelOrder('binance', order.id, 'ETH/USDT');
    expect(canceled.status).toBe('canceled');
    expect(exchange.fetchBalance('binance').USDT).toEqual({ free: 100_000, used: 0, total: 100_000 });
    expect(exchange.fetchOrders('binance').map((o) => o.status)).toEqual(['canceled']);
    expectError(() => exchange.cancelOrder('binance', order.id), 'order.not_found', /no open order .* already canceled/);
  });

  it('reserve the base currency of a sell', () => {
    const { exchange } = setup();
    const bid = exchange.fetchTicker('binance', 'BTC/USDT').bid;
    exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'limit', side: 'sell', amount: 0.5, price: Math.ceil(bid * 1.2) });
    expect(exchange.fetchBalance('binance').BTC).toEqual({ free: 1, used: 0.5, total: 1.5 });
  });

  it('fill at once, at book prices, when they cross the book', () => {
    const { exchange } = setup();
    const book = exchange.fetchOrderBook('binance', 'BTC/USDT');
    const [limit, inReach] = book.asks[0] ?? [0, 0];
    const order = exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.1, price: book.asks[2]?.[0] ?? 0 });
    expect(order.status).toBe('closed');
    expect(order.trades.every((t) => t.price <= (book.asks[2]?.[0] ?? 0) && t.takerOrMaker === 'taker')).toBe(true);
    expect(used(exchange, 'binance', 'USDT')).toBe(0);
    // A larger order takes what is within its limit and rests with the remainder.
    const amount = inReach + 0.2;
    const big = exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount, price: limit });
    expect(big.status).toBe('open');
    expect(big.filled).toBe(inReach);
    expect(big.remaining).toBeCloseTo(0.2, 10);
    expect(used(exchange, 'binance', 'USDT')).toBeCloseTo(big.remaining * limit * (1 + SPOT_FEES.taker), 4);
  });

  it('fill as maker at their price when the market comes to them', () => {
    const { exchange, clock } = setup();
    const ask = exchange.fetchTicker('binance', 'BTC/USDT').ask;
    const price = Math.round(ask * 0.99);
    const order = exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.25, price });
    let filled = exchange.fetchOrders('binance')[0];
    for (let hours = 0; hours < 24 * 14 && filled?.status === 'open'; hours++) {
      clock.advance(HOUR);
      filled = exchange.fetchOrders('binance')[0];
    }
    expect(filled?.status).toBe('closed');
    expect(filled?.id).toBe(order.id);
    const trade = filled?.trades[0];
    expect(trade).toMatchObject({ price, amount: 0.25, takerOrMaker: 'maker' });
    expect(exchange.fetchBalance('binance').BTC).toEqual({ free: 1.75, used: 0, total: 1.75 });
    expect(used(exchange, 'binance', 'USDT')).toBe(0);
    expect(free(exchange, 'binance', 'USDT')).toBeCloseTo(100_000 - 0.25 * price * (1 + SPOT_FEES.maker), 6);
  });

  it('are refused when the reservation exceeds the free balance', () => {
    const { exchange } = setup();
    expectError(
      () => exchange.createOrder('kraken', { kind: 'spot', symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 1, price: 60_000 }),
      'funds.insufficient',
      /needs 60060 USDT, has 50000 USDT available/,
    );
    expect(exchange.fetchOrders('kraken')).toEqual([]);
  });
});

describe('cancel', () => {
  it('reports unknown ids and orders of another market', () => {
    const { exchange } = setup();
    expectError(() => exchange.cancelOrder('binance', '42'), 'order.not_found', /binance has no order "42"/);
    const bid = exchange.fetchTicker('binance', 'SOL/USDT').bid;
    const order = exchange.createOrder('binance', { kind: 'spot', symbol: 'SOL/USDT', type: 'limit', side: 'buy', amount: 1, price: Math.floor(bid * 0.8) });
    expectError(() => exchange.cancelOrder('binance', order.id, 'BTC/USDT'), 'order.not_found', /no order .* on BTC\/USDT/);
    expectError(() => exchange.cancelOrder('kraken', order.id), 'order.not_found', /kraken has no order/);
    expect(exchange.cancelOrder('binance', order.id).status).toBe('canceled');
  });
});

describe('withdrawals', () => {
  it('debit the amount plus the network fee', () => {
    const { exchange } = setup();
    const address = exchange.fetchDepositAddress('kraken', 'BTC').address;
    const withdrawal = exchange.withdraw('binance', { code: 'btc', amount: 0.5, address });
    expect(withdrawal).toMatchObject({ currency: 'BTC', amount: 0.5, address, network: 'BTC', status: 'pending', type: 'withdrawal', fee: { currency: 'BTC', cost: 0.0002 } });
    expect(free(exchange, 'binance', 'BTC')).toBe(0.9998);
    expect(exchange.fetchWithdrawals('binance')).toEqual([withdrawal]);
    const tron = exchange.withdraw('binance', { code: 'USDT', amount: 100, address: exchange.fetchDepositAddress('kraken', 'USDT', 'TRC20').address, network: 'trc20' });
    expect(tron.fee.cost).toBe(1);
    expect(free(exchange, 'binance', 'USDT')).toBe(99_899);
  });

  it('refuse more than the free balance and leave it untouched', () => {
    const { exchange } = setup();
    const address = exchange.fetchDepositAddress('kraken', 'ETH').address;
    expectError(() => exchange.withdraw('binance', { code: 'ETH', amount: 20, address }), 'funds.insufficient', /needs 20.0015 ETH, has 20 ETH available/);
    expect(free(exchange, 'binance', 'ETH')).toBe(20);
    // Funds reserved by an open order are not free either.
    const ask = exchange.fetchTicker('binance', 'ETH/USDT').ask;
    exchange.createOrder('binance', { kind: 'spot', symbol: 'ETH/USDT', type: 'limit', side: 'sell', amount: 19, price: Math.ceil(ask * 1.5) });
    expectError(() => exchange.withdraw('binance', { code: 'ETH', amount: 1, address }), 'funds.insufficient', /has 1 ETH available/);
  });

  it('refuse bad addresses, networks, currencies and dust', () => {
    const { exchange } = setup();
    expectError(() => exchange.withdraw('binance', { code: 'BTC', amount: 0.1, address: '0x' + 'ab'.repeat(20) }), 'address.invalid', /not a valid BTC address on network BTC/);
    expectError(() => exchange.withdraw('binance', { code: 'USDT', amount: 50, address: 'x', network: 'BEP20' }), 'request.bad', /network "BEP20" .* \(networks: ERC20, TRC20\)/);
    expectError(() => exchange.withdraw('binance', { code: 'DOGE', amount: 50, address: 'x' }), 'request.bad', /does not have currency "DOGE"/);
    expectError(() => exchange.withdraw('binance', { code: 'BTC', amount: 0.0001, address: 'x' }), 'request.bad', /below the minimum 0.001 BTC/);
    expect(exchange.fetchBalance('binance').free.BTC).toBe(1.5);
  });

  it('deposit addresses follow each network format and differ between venues', () => {
    const { exchange } = setup();
    expect(exchange.fetchDepositAddress('binance', 'BTC').address).toMatch(/^bc1q[02-9ac-hj-np-z]{38}$/);
    expect(exchange.fetchDepositAddress('binance', 'ETH').address).toMatch(/^0x[0-9a-f]{40}$/);
    expect(exchange.fetchDepositAddress('binance', 'USDT', 'TRC20').address).toMatch(/^T[1-9A-HJ-NP-Za-km-z]{33}$/);
    expect(exchange.fetchDepositAddress('binance', 'SOL').address).toMatch(/^[1-9A-HJ-NP-Za-km-z]{44}$/);
    expect(exchange.fetchDepositAddress('binance', 'BTC').address).not.toBe(exchange.fetchDepositAddress('kraken', 'BTC').address);
  });
});

describe('futures', () => {
  it('open a position with margin at the market leverage and close it with realised PnL', () => {
    const { exchange, clock } = setup();
    const ask = exchange.fetchOrderBook('binance', 'BTC/USDT:USDT').asks[0] ?? [0, 0];
    const opened = exchange.createOrder('binance', { kind: 'futures', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.2 });
    expect(opened.symbol).toBe('BTC/USDT:USDT');
    const [position] = exchange.fetchPositions('binance');
    expect(position).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'long', contracts: 0.2, leverage: 10 });
    expect(position?.entryPrice).toBeCloseTo(opened.average ?? 0, 4);
    const margin = (0.2 * (opened.average ?? 0)) / 10;
    expect(position?.initialMargin).toBeCloseTo(margin, 4);
    expect(used(exchange, 'binance', 'USDT')).toBeCloseTo(margin, 4);
    expect(opened.average).toBeGreaterThanOrEqual(ask[0]);

    clock.advance(6 * HOUR);
    const exit = exchange.fetchOrderBook('binance', 'BTC/USDT:USDT').bids[0] ?? [0, 0];
    const closed = exchange.createOrder('binance', { kind: 'futures', symbol: 'BTC/USDT:USDT', type: 'market', side: 'sell', amount: 0.2 });
    expect(closed.average).toBe(exit[0]);
    expect(exchange.fetchPositions('binance')).toEqual([]);
    const pnl = 0.2 * (exit[0] - (opened.average ?? 0));
    const fees = opened.fee.cost + closed.fee.cost;
    expect(closed.fee.cost).toBeCloseTo(0.2 * exit[0] * FUTURES_FEES.taker, 6);
    expect(exchange.fetchBalance('binance').USDT).toMatchObject({ used: 0 });
    expect(free(exchange, 'binance', 'USDT')).toBeCloseTo(100_000 + pnl - fees, 4);
  });

  it('reverse a position when the opposite order is larger', () => {
    const { exchange } = setup();
    exchange.createOrder('binance', { kind: 'futures', symbol: 'ETH/USDT:USDT', type: 'market', side: 'buy', amount: 1 });
    exchange.createOrder('binance', { kind: 'futures', symbol: 'ETH/USDT:USDT', type: 'market', side: 'sell', amount: 3 });
    const [position] = exchange.fetchPositions('binance');
    expect(position).toMatchObject({ side: 'short', contracts: 2 });
    expect(position?.liquidationPrice).toBeGreaterThan(position?.entryPrice ?? Infinity);
  });

  it('adjust margin to a new leverage and enforce the market maximum', () => {
    const { exchange } = setup();
    exchange.createOrder('binance', { kind: 'futures', symbol: 'BTC/USDT:USDT', type: 'market', side: 'buy', amount: 0.5 });
    const before = exchange.fetchPositions('binance')[0];
    const change = exchange.setLeverage('binance', 5, 'BTC/USDT:USDT');
    expect(change).toMatchObject({ symbol: 'BTC/USDT:USDT', leverage: 5, symbols: ['BTC/USDT:USDT'] });
    const after = exchange.fetchPositions('binance')[0];
    expect(after?.leverage).toBe(5);
    expect(after?.initialMargin).toBeCloseTo((before?.initialMargin ?? 0) * 2, 4);
    expect(used(exchange, 'binance', 'USDT')).toBeCloseTo(after?.initialMargin ?? 0, 4);
    expectError(() => exchange.setLeverage('binance', 126, 'BTC/USDT'), 'request.bad', /exceeds the maximum 125 of BTC\/USDT:USDT/);
    expectError(() => exchange.setLeverage('binance', 60), 'request.bad', /exceeds the maximum 50 of SOL\/USDT:USDT/);
    expect(exchange.setLeverage('binance', 20).symbols).toEqual(['BTC/USDT:USDT', 'ETH/USDT:USDT', 'SOL/USDT:USDT']);
  });

  it('keep the leverage of a market with open orders', () => {
    const { exchange } = setup();
    const bid = exchange.fetchTicker('binance', 'SOL/USDT:USDT').bid;
    const order = exchange.createOrder('binance', { kind: 'futures', symbol: 'SOL/USDT:USDT', type: 'limit', side: 'buy', amount: 10, price: Math.floor(bid * 0.8) });
    expect(used(exchange, 'binance', 'USDT')).toBeCloseTo((10 * Math.floor(bid * 0.8)) / 10 + 10 * Math.floor(bid * 0.8) * FUTURES_FEES.taker, 6);
    expectError(() => exchange.setLeverage('binance', 3, 'SOL/USDT:USDT'), 'request.bad', new RegExp(`open orders \\(${order.id}\\)`));
    exchange.cancelOrder('binance', order.id);
    expect(exchange.setLeverage('binance', 3, 'SOL/USDT:USDT').leverage).toBe(3);
  });

  it('are not offered by a spot-only venue', () => {
    const { exchange } = setup();
    expectError(() => exchange.fetchPositions('coinbase'), 'exchange.not_supported', /coinbase does not offer futures/);
    expectError(() => exchange.createOrder('coinbase', { kind: 'futures', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 1 }), 'exchange.not_supported', /coinbase/);
    expectError(() => exchange.fetchFundingRate('coinbase', 'BTC/USDT'), 'exchange.not_supported', /coinbase/);
  });
});

describe('market data', () => {
  it('tickers agree with the book and the latest candle', () => {
    const { exchange } = setup();
    const ticker = exchange.fetchTicker('binance', 'BTC/USDT:USDT');
    const book = exchange.fetchOrderBook('binance', 'BTC/USDT:USDT', 5);
    expect(ticker.bid).toBe(book.bids[0]?.[0]);
    expect(ticker.ask).toBe(book.asks[0]?.[0]);
    expect(ticker.bid).toBeLessThan(ticker.ask);
    expect(ticker.low).toBeLessThanOrEqual(ticker.last);
    expect(ticker.high).toBeGreaterThanOrEqual(ticker.last);
    expect(ticker.markPrice).toBe(ticker.last);
    expect(book.bids).toHaveLength(5);
  });

  it('funding rates settle every 8 hours', () => {
    const { exchange } = setup();
    const rate = exchange.fetchFundingRate('binance', 'ETH/USDT');
    expect(rate.symbol).toBe('ETH/USDT:USDT');
    expect(rate.fundingDatetime).toBe('2025-06-02T16:00:00.000Z');
    expect(rate.previousFundingDatetime).toBe('2025-06-02T08:00:00.000Z');
    expect(Math.abs(rate.fundingRate)).toBeLessThan(0.001);
  });

  it('long/short ratios line up with the timeframe', () => {
    const { exchange } = setup();
    const points = exchange.fetchLongShortRatio('kraken', 'BTC/USDT:USDT', '4h', 6);
    expect(points).toHaveLength(6);
    expect(points.at(-1)?.datetime).toBe('2025-06-02T12:00:00.000Z');
    for (const p of points) {
      expect(p.longShortRatio).toBeGreaterThan(0);
      expect(p.info.longAccount + p.info.shortAccount).toBeCloseTo(1, 6);
    }
    expectError(() => exchange.fetchLongShortRatio('kraken', 'BTC/USDT:USDT', '1m'), 'request.bad', /supported: 5m, 15m/);
  });

  it('options are priced consistently (put-call parity) and expire', () => {
    const { exchange } = setup();
    const call = exchange.fetchOption('binance', 'BTC/USDT:USDT-250926-70000-C');
    const put = exchange.fetchOption('binance', 'BTC/USDT:USDT-250926-70000-P');
    // Zero rates: C − P = S − K.
    expect(call.markPrice - put.markPrice).toBeCloseTo(call.underlyingPrice - 70_000, 0);
    expect(call.greeks.delta - put.greeks.delta).toBeCloseTo(1, 6);
    expect(call.bidPrice).toBeLessThan(call.askPrice);
    expect(call.expiryDatetime).toBe('2025-09-26T08:00:00.000Z');
    expectError(() => exchange.fetchOption('binance', 'BTC/USDT:USDT-250530-70000-C'), 'symbol.bad', /expired at 2025-05-30T08:00:00.000Z/);
    expectError(() => exchange.fetchOption('binance', 'BTC/USDT'), 'symbol.bad', /option symbols look like/);
    expectError(() => exchange.fetchOption('binance', 'DOGE/USDT:USDT-250926-1-C'), 'symbol.bad', /no options on DOGE\/USDT:USDT/);
  });

  it('public trades are recent, ordered, and include the account’s own fills', () => {
    const { exchange } = setup();
    const trades = exchange.fetchTrades('binance', 'BTC/USDT', undefined, 20);
    expect(trades).toHaveLength(20);
    const now = Date.parse(START);
    for (let i = 1; i < trades.length; i++) expect(trades[i]?.timestamp).toBeGreaterThanOrEqual(trades[i - 1]?.timestamp ?? 0);
    expect(trades.every((t) => t.timestamp <= now && t.timestamp > now - 10 * 60_000)).toBe(true);
    const mine = exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.01 });
    expect(exchange.fetchTrades('binance', 'BTC/USDT', undefined, 5).some((t) => t.id === mine.trades[0]?.id)).toBe(true);
    const since = now - 60_000;
    expect(exchange.fetchTrades('binance', 'BTC/USDT', since, 1000).every((t) => t.timestamp >= since)).toBe(true);
  });
});

describe('history', () => {
  it('pages like CCXT: first entries after since, else the latest', () => {
    const { exchange, clock } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push(exchange.createOrder('binance', { kind: 'spot', symbol: 'SOL/USDT', type: 'market', side: 'buy', amount: 1 }).id);
      clock.advance(60_000);
    }
    expect(exchange.fetchOrders('binance').map((o) => o.id)).toEqual(ids);
    expect(exchange.fetchOrders('binance', { limit: 2 }).map((o) => o.id)).toEqual(ids.slice(2));
    expect(exchange.fetchOrders('binance', { since: Date.parse(START) + 60_000, limit: 2 }).map((o) => o.id)).toEqual(ids.slice(1, 3));
    expect(exchange.fetchOrders('binance', { symbol: 'BTC/USDT' })).toEqual([]);
    expect(exchange.fetchMyTrades('binance', { symbol: 'SOL/USDT', limit: 1 })[0]?.order).toBe(ids[3]);
  });
});

describe('technical indicators on generated candles', () => {
  it('SMA equals the mean of the latest closes', () => {
    const { exchange } = setup();
    const result = exchange.calculateIndicator('binance', { symbol: 'ETH/USDT', timeframe: '1h', indicator: 'SMA', ohlcvLimit: 5, params: { length: 10 } });
    expect(result.data).toHaveLength(5);
    expect(result.params_used).toEqual({ length: 10, price_source: 'close', ohlcv_limit: 5 });
    const closes = exchange.fetchOhlcv('binance', 'ETH/USDT', '1h', undefined, 10).map((r) => r[4]);
    expect(result.data.at(-1)?.value).toBeCloseTo(closes.reduce((s, c) => s + c, 0) / 10, 8);
    expect(result.data.at(-1)?.datetime).toBe('2025-06-02T12:00:00.000Z');
    const series = sma(exchange.fetchOhlcv('binance', 'ETH/USDT', '1h', undefined, 14).map((r) => r[4]), 10);
    expect(result.data.map((p) => p.value)).toEqual(series.slice(-5).map((v) => expect.closeTo(v ?? Number.NaN, 8)));
  });

  it('returns every component of multi-line indicators', () => {
    const { exchange } = setup();
    const bands = exchange.calculateIndicator('binance', { symbol: 'BTC/USDT', timeframe: '15m', indicator: 'BBANDS' });
    expect(bands.data).toHaveLength(50);
    for (const p of bands.data) expect((p.lower as number) < (p.middle as number) && (p.middle as number) < (p.upper as number)).toBe(true);
    const stoch = exchange.calculateIndicator('binance', { symbol: 'BTC/USDT', timeframe: '1h', indicator: 'STOCH', ohlcvLimit: 3 });
    for (const p of stoch.data) expect(p.percent_k as number).toBeGreaterThanOrEqual(0);
    const rsi = exchange.calculateIndicator('binance', { symbol: 'BTC/USDT', timeframe: '1d', indicator: 'RSI', params: { ohlcv_limit: 4 } });
    expect(rsi.data).toHaveLength(4);
    expect(Object.keys(exchange.calculateIndicator('kraken', { symbol: 'SOL/USDT', timeframe: '4h', indicator: 'MACD', ohlcvLimit: 1 }).data[0] ?? {})).toEqual([
      'timestamp',
      'datetime',
      'macd',
      'signal',
      'histogram',
    ]);
  });

  it('rejects unknown or out-of-range parameters by name', () => {
    const { exchange } = setup();
    expectError(() => exchange.calculateIndicator('binance', { symbol: 'BTC/USDT', timeframe: '1h', indicator: 'RSI', params: { period: 3 } }), 'request.bad', /indicator_params.period is not a parameter of RSI/);
    expectError(() => exchange.calculateIndicator('binance', { symbol: 'BTC/USDT', timeframe: '1h', indicator: 'MACD', params: { fast: 30 } }), 'request.bad', /fast \(30\) must be smaller/);
    expectError(() => exchange.calculateIndicator('binance', { symbol: 'BTC/USDT', timeframe: '1h', indicator: 'SMA', params: { price_source: 'vwap' } }), 'request.bad', /price_source must be one of open, high/);
  });
});
