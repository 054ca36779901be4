import { describe, expect, it } from 'vitest';
import { AccountWallet } from './account-wallet.js';
import { DemoExchangeError } from './exchange-error.js';
import { MarketCatalog } from './market-catalog.js';
import { PositionBook } from './position-book.js';

// Fills at chosen prices, which the exchange's generated order books never give, so every
// margin, profit and loss below is exact.
const NOW = Date.parse('2025-06-02T12:00:00Z');

function setup(usdt: number): { wallet: AccountWallet; book: PositionBook; catalog: MarketCatalog } {
  const catalog = new MarketCatalog(7, { id: 'binance', name: 'Binance', futures: true, balances: {} });
  const wallet = new AccountWallet({ seed: 7, venueId: 'binance', balances: { USDT: usdt }, firstWithdrawalId: 1 });
  return { wallet, book: new PositionBook({ catalog, wallet }), catalog };
}

function usdt(wallet: AccountWallet): unknown {
  return wallet.balance(NOW).USDT;
}

describe('PositionBook', () => {
  it('closes the open side before opening the other, realising profit at the fill price', () => {
    const { wallet, book, catalog } = setup(1000);
    const eth = catalog.resolve('ETH/USDT', 'futures');
    book.applyFill(eth, 'buy', { amount: 2, price: 100 }, 10, NOW);
    wallet.roundBalances();
    expect(usdt(wallet)).toEqual({ free: 980, used: 20, total: 1000 });
    expect(book.list(NOW)).toMatchObject([{ symbol: 'ETH/USDT:USDT', side: 'long', contracts: 2, entryPrice: 100, initialMargin: 20, leverage: 10, liquidationPrice: 90.5 }]);

    book.applyFill(eth, 'sell', { amount: 3, price: 110 }, 10, NOW + 1000);
    wallet.roundBalances();
    // +20 realised and the 20 of margin back, then 11 of margin for the new short.
    expect(usdt(wallet)).toEqual({ free: 1009, used: 11, total: 1020 });
    expect(book.list(NOW)).toMatchObject([{ side: 'short', contracts: 1, entryPrice: 110, initialMargin: 11, timestamp: NOW + 1000, liquidationPrice: 120.45 }]);
  });

  it('averages the entry of fills on one side and releases margin in proportion when reducing', () => {
    const { wallet, book, catalog } = setup(1000);
    const eth = catalog.resolve('ETH/USDT', 'futures');
    book.applyFill(eth, 'buy', { amount: 1, price: 100 }, 10, NOW);
    book.applyFill(eth, 'buy', { amount: 3, price: 120 }, 10, NOW);
    wallet.roundBalances();
    expect(book.list(NOW)).toMatchObject([{ contracts: 4, entryPrice: 115, initialMargin: 46 }]);

    book.applyFill(eth, 'sell', { amount: 1, price: 125 }, 10, NOW + 1000);
    wallet.roundBalances();
    expect(book.list(NOW)).toMatchObject([{ side: 'long', contracts: 3, entryPrice: 115, initialMargin: 34.5, realizedPnl: 10, lastUpdateTimestamp: NOW + 1000 }]);
    expect(usdt(wallet)).toEqual({ free: 975.5, used: 34.5, total: 1010 });
  });

  it('re-margins a position at a new leverage, and refuses one whose extra margin is not free', () => {
    const { wallet, book, catalog } = setup(30);
    const eth = catalog.resolve('ETH/USDT', 'futures');
    book.applyFill(eth, 'buy', { amount: 2, price: 100 }, 10, NOW);
    wallet.roundBalances();

    let caught: unknown;
    try {
      book.setLeverage(5, 'ETH/USDT', NOW, () => []);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DemoExchangeError);
    expect((caught as DemoExchangeError).code).toBe('funds.insufficient');
    expect((caught as DemoExchangeError).message).toMatch(/binance account has insufficient balance for requested action: leverage 5 needs 20 USDT more margin, has 10 USDT available/);
    expect(book.leverageOf('ETH/USDT:USDT')).toBe(10);
    expect(usdt(wallet)).toEqual({ free: 10, used: 20, total: 30 });

    expect(book.setLeverage(20, 'ETH/USDT', NOW + 1000, () => [])).toMatchObject({ symbol: 'ETH/USDT:USDT', leverage: 20 });
    expect(usdt(wallet)).toEqual({ free: 20, used: 10, total: 30 });
    expect(book.list(NOW)).toMatchObject([{ leverage: 20, initialMargin: 10, liquidationPrice: 95.5, lastUpdateTimestamp: NOW + 1000 }]);
  });

  it('keeps the leverage of a market its open orders were reserved at', () => {
    const { book } = setup(1000);
    const openOrders = (market: { symbol: string }) => (market.symbol === 'SOL/USDT:USDT' ? ['123'] : []);
    expect(() => book.setLeverage(3, undefined, NOW, openOrders)).toThrow(/cannot change the leverage of SOL\/USDT:USDT on binance while it has open orders \(123\)/);
    expect(book.leverageOf('BTC/USDT:USDT')).toBe(10);
    expect(book.setLeverage(10, 'SOL/USDT', NOW, openOrders).leverage).toBe(10);
    expect(book.setLeverage(3, 'BTC/USDT', NOW, openOrders).symbols).toEqual(['BTC/USDT:USDT']);
  });

  it('restores a market’s position from a snapshot, whether it was opened, changed or closed since', () => {
    const { book, catalog } = setup(1000);
    const eth = catalog.resolve('ETH/USDT', 'futures');
    const none = book.snapshot(eth.symbol);
    book.applyFill(eth, 'sell', { amount: 1, price: 100 }, 10, NOW);
    const short = book.snapshot(eth.symbol);
    book.applyFill(eth, 'buy', { amount: 1, price: 90 }, 10, NOW);
    expect(book.list(NOW)).toEqual([]);
    book.restore(short);
    expect(book.list(NOW)).toMatchObject([{ side: 'short', contracts: 1, entryPrice: 100 }]);
    book.restore(none);
    expect(book.list(NOW)).toEqual([]);
  });
});
