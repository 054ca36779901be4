import { describe, expect, it } from 'vitest';
import { AccountWallet } from './account-wallet.js';
import { DemoExchangeError } from './exchange-error.js';

const NOW = Date.parse('2025-06-02T12:00:00Z');

function wallet(): AccountWallet {
  return new AccountWallet({ seed: 7, venueId: 'kraken', balances: { USDT: 100, BTC: 0.5 }, firstWithdrawalId: 900 });
}

describe('AccountWallet', () => {
  it('moves reservations between free and used without floating-point residue', () => {
    const w = wallet();
    w.reserve('USDT', 0.1 + 0.2);
    expect(w.balance(NOW).USDT).toEqual({ free: 99.7, used: 0.3, total: 100 });
    w.release('USDT', 0.3);
    expect(w.balance(NOW).USDT).toEqual({ free: 100, used: 0, total: 100 });
  });

  it('names the shortfall of a change that left a balance negative, and rolls every leg of it back', () => {
    const w = wallet();
    const before = w.snapshot();
    w.adjust('BTC', 0.002);
    w.adjust('USDT', -150.25, 20);
    w.roundBalances();
    let caught: unknown;
    try {
      w.assertSolvent(before);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DemoExchangeError);
    expect((caught as DemoExchangeError).code).toBe('funds.insufficient');
    expect((caught as DemoExchangeError).message).toBe('InsufficientFunds: kraken account has insufficient balance for requested action: needs 150.25 USDT, has 100 USDT available');
    w.restore(before);
    expect(w.balance(NOW).total).toEqual({ BTC: 0.5, ETH: 0, SOL: 0, USDT: 100 });
    expect(w.balance(NOW).used.USDT).toBe(0);
    expect(() => w.assertSolvent(before)).not.toThrow();
  });

  it('numbers withdrawals from its first id', () => {
    const w = wallet();
    const address = w.depositAddress('BTC').address;
    expect([w.withdraw({ code: 'BTC', amount: 0.1, address }, NOW).id, w.withdraw({ code: 'BTC', amount: 0.1, address }, NOW).id]).toEqual(['900', '901']);
    expect(w.free('BTC')).toBe(0.2996);
  });
});
