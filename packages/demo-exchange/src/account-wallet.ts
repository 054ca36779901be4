import { createHash } from 'node:crypto';
import { isoDatetime } from './ccxt-structures.js';
import type { AccountBalance, BalanceEntry, DepositAddress, Withdrawal, WithdrawalRequest } from './ccxt-structures.js';
import { EPSILON, tidy } from './decimal-rounding.js';
import { DemoExchangeError } from './exchange-error.js';
import { ADDRESS_PATTERNS, CURRENCIES } from './exchange-seed.js';
import type { CurrencySpec, NetworkSpec } from './exchange-seed.js';

/** How one venue's wallet starts. */
export interface AccountWalletOptions {
  /** Seed of the generated deposit addresses and withdrawal transaction ids. */
  readonly seed: number;
  /** The venue's exchange id, lower case; it names the account in error messages. */
  readonly venueId: string;
  /** Free balance per currency code at start; currencies left out start at 0. */
  readonly balances: Readonly<Record<string, number>>;
  /** Id of the first withdrawal; later ones count up from it. */
  readonly firstWithdrawalId: number;
}

/** The balances of a wallet at one moment, to check or roll back a change against. */
export interface BalanceSnapshot {
  readonly holdings: ReadonlyMap<string, Readonly<Holding>>;
}

interface Holding {
  free: number;
  used: number;
}

/**
 * The account's holdings on one venue: per currency a free balance and a `used` one
 * that open orders and futures margin hold. Serves balances, deposit addresses and
 * withdrawals (with their networks, fees and address checks), and gives the matching
 * engine and the position book the postings a trade makes.
 *
 * @example
 * const wallet = new AccountWallet({ seed: 7, venueId: 'binance', balances: { USDT: 1000 }, firstWithdrawalId: 1 });
 * wallet.reserve('USDT', 250);
 * wallet.balance(Date.now()).USDT; // { free: 750, used: 250, total: 1000 }
 */
export class AccountWallet {
  private readonly seed: number;
  private readonly venueId: string;
  private readonly holdings = new Map<string, Holding>();
  private readonly made: Withdrawal[] = [];
  private nextWithdrawal: number;

  /** @throws DemoExchangeError (`request.bad`) on an unknown currency or a negative balance. */
  constructor(options: AccountWalletOptions) {
    this.seed = options.seed;
    this.venueId = options.venueId;
    this.nextWithdrawal = options.firstWithdrawalId;
    for (const currency of CURRENCIES) this.holdings.set(currency.code, { free: 0, used: 0 });
    for (const [code, amount] of Object.entries(options.balances)) {
      const holding = this.holdings.get(code.toUpperCase());
      if (!holding) throw new DemoExchangeError('request.bad', `exchange ${this.venueId}: unknown currency ${code} in balances (known: ${CURRENCIES.map((c) => c.code).join(', ')})`);
      if (!Number.isFinite(amount) || amount < 0) throw new DemoExchangeError('request.bad', `exchange ${this.venueId}: balance of ${code} must be a non-negative number, got ${amount}`);
      holding.free = amount;
    }
  }

  /** The account's balances in CCXT's layout (`fetchBalance`), as of `now`. */
  balance(now: number): AccountBalance {
    const free: Record<string, number> = {};
    const used: Record<string, number> = {};
    const total: Record<string, number> = {};
    const perCurrency: Record<string, BalanceEntry> = {};
    for (const [code, h] of this.holdings) {
      free[code] = tidy(h.free);
      used[code] = tidy(h.used);
      total[code] = tidy(h.free + h.used);
      perCurrency[code] = { free: free[code], used: used[code], total: total[code] };
    }
    return { info: {}, timestamp: now, datetime: isoDatetime(now), ...perCurrency, free, used, total };
  }

  /**
   * The deposit address of a currency on a network (`fetchDepositAddress`), in the
   * network's address format; stable for a seed and venue.
   *
   * @param network default the currency's first network.
   * @throws DemoExchangeError (`request.bad`) on an unknown currency or network.
   */
  depositAddress(code: string, network?: string): DepositAddress {
    const currency = this.currency(code);
    const net = this.network(currency, network);
    return { info: {}, currency: currency.code, network: net.id, address: this.generateAddress(currency, net), tag: null };
  }

  /**
   * Withdraws to an external address (`withdraw`): the amount plus the network fee leave
   * the free balance at once, and the withdrawal is reported `pending`.
   *
   * @throws DemoExchangeError `request.bad` (currency, network, amount), `address.invalid`
   * (the address does not fit the network), `funds.insufficient`.
   */
  withdraw(request: WithdrawalRequest, now: number): Withdrawal {
    const currency = this.currency(request.code);
    const net = this.network(currency, request.network);
    const amount = request.amount;
    if (!Number.isFinite(amount) || amount <= 0) throw new DemoExchangeError('request.bad', `withdrawal amount must be a positive number, got ${amount}`);
    if (amount < net.withdrawMin) {
      throw new DemoExchangeError('request.bad', `withdrawal amount ${amount} ${currency.code} is below the minimum ${net.withdrawMin} ${currency.code} on network ${net.id}`);
    }
    const address = request.address.trim();
    if (!ADDRESS_PATTERNS[net.addressFormat].test(address)) {
      throw new DemoExchangeError('address.invalid', `${JSON.stringify(request.address)} is not a valid ${currency.code} address on network ${net.id} (${describeFormat(net)})`);
    }
    const holding = this.holding(currency.code);
    const needed = tidy(amount + net.withdrawFee);
    if (needed > holding.free + EPSILON) {
      throw this.insufficient(
        `withdrawing ${amount} ${currency.code} plus the ${net.withdrawFee} ${currency.code} network fee needs ${needed} ${currency.code}, has ${tidy(holding.free)} ${currency.code} available`,
      );
    }
    holding.free = tidy(holding.free - needed);
    const id = String(this.nextWithdrawal++);
    const digest = createHash('sha256').update(`${this.seed}|${this.venueId}|withdrawal|${id}`).digest('hex');
    const tag = request.tag ?? null;
    const withdrawal: Withdrawal = Object.freeze({
      info: {},
      id,
      txid: net.addressFormat === 'hex40' ? `0x${digest}` : digest,
      timestamp: now,
      datetime: isoDatetime(now),
      network: net.id,
      address,
      addressTo: address,
      addressFrom: null,
      tag,
      tagTo: tag,
      tagFrom: null,
      type: 'withdrawal',
      amount,
      currency: currency.code,
      status: 'pending',
      updated: null,
      internal: false,
      comment: null,
      fee: { currency: currency.code, cost: net.withdrawFee },
    });
    this.made.push(withdrawal);
    return withdrawal;
  }

  /** The withdrawals made so far, oldest first (`fetchWithdrawals`). */
  withdrawals(): Withdrawal[] {
    return [...this.made];
  }

  /** The free balance of `code`, unrounded. */
  free(code: string): number {
    return this.holding(code).free;
  }

  /** Moves `amount` of `code` from free to used (an order's reservation, a position's margin), rounded. */
  reserve(code: string, amount: number): void {
    const holding = this.holding(code);
    holding.free = tidy(holding.free - amount);
    holding.used = tidy(holding.used + amount);
  }

  /** Moves `amount` of `code` from used back to free, rounded: the reverse of {@link reserve}. */
  release(code: string, amount: number): void {
    const holding = this.holding(code);
    holding.used = tidy(holding.used - amount);
    holding.free = tidy(holding.free + amount);
  }

  /**
   * Adds `free` to the free and `used` to the used balance of `code`, unrounded: one leg
   * of a fill, which posts several and then calls {@link roundBalances}.
   */
  adjust(code: string, free: number, used = 0): void {
    const holding = this.holding(code);
    holding.free += free;
    holding.used += used;
  }

  /** Removes floating-point residue from every balance, after the legs of a fill are posted. */
  roundBalances(): void {
    for (const h of this.holdings.values()) {
      h.free = tidy(h.free);
      h.used = tidy(h.used);
    }
  }

  /** The balances as they are now, for {@link assertSolvent} and {@link restore}. */
  snapshot(): BalanceSnapshot {
    const holdings = new Map<string, Holding>();
    for (const [code, h] of this.holdings) holdings.set(code, { ...h });
    return { holdings };
  }

  /** Puts every balance back to what it was at `snapshot`. */
  restore(snapshot: BalanceSnapshot): void {
    for (const [code, h] of snapshot.holdings) {
      const live = this.holding(code);
      live.free = h.free;
      live.used = h.used;
    }
  }

  /**
   * @throws DemoExchangeError (`funds.insufficient`) when a free balance has gone negative
   * since `snapshot`, naming what was needed and what was available then.
   */
  assertSolvent(snapshot: BalanceSnapshot): void {
    for (const [code, h] of this.holdings) {
      if (h.free >= -1e-9) continue;
      const before = snapshot.holdings.get(code)?.free ?? 0;
      throw this.insufficient(`needs ${tidy(before - h.free)} ${code}, has ${tidy(before)} ${code} available`);
    }
  }

  /** The `funds.insufficient` error of this account, CCXT's wording followed by `detail`. */
  insufficient(detail: string): DemoExchangeError {
    return new DemoExchangeError('funds.insufficient', `${this.venueId} account has insufficient balance for requested action: ${detail}`);
  }

  private holding(code: string): Holding {
    let holding = this.holdings.get(code);
    if (!holding) {
      holding = { free: 0, used: 0 };
      this.holdings.set(code, holding);
    }
    return holding;
  }

  private currency(code: string): CurrencySpec {
    const upper = code.trim().toUpperCase();
    const currency = CURRENCIES.find((c) => c.code === upper);
    if (!currency) {
      throw new DemoExchangeError('request.bad', `${this.venueId} does not have currency ${JSON.stringify(code)} (currencies: ${CURRENCIES.map((c) => c.code).join(', ')})`);
    }
    return currency;
  }

  private network(currency: CurrencySpec, network: string | undefined): NetworkSpec {
    if (network === undefined) {
      const first = currency.networks[0];
      if (!first) throw new DemoExchangeError('request.bad', `${currency.code} has no networks on ${this.venueId}`);
      return first;
    }
    const found = currency.networks.find((n) => n.id === network.trim().toUpperCase());
    if (!found) {
      throw new DemoExchangeError('request.bad', `${this.venueId} does not support network ${JSON.stringify(network)} for ${currency.code} (networks: ${currency.networks.map((n) => n.id).join(', ')})`);
    }
    return found;
  }

  private generateAddress(currency: CurrencySpec, network: NetworkSpec): string {
    const bytes = createHash('sha512').update(`${this.seed}|${this.venueId}|${currency.code}|${network.id}|deposit`).digest();
    const pickChars = (alphabet: string, count: number, offset = 0) => {
      let out = '';
      for (let i = 0; i < count; i++) out += alphabet[(bytes[(i + offset) % bytes.length] ?? 0) % alphabet.length];
      return out;
    };
    const base58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    switch (network.addressFormat) {
      case 'bech32':
        return `bc1q${pickChars('qpzry9x8gf2tvdw0s3jn54khce6mua7l', 38)}`;
      case 'hex40':
        return `0x${bytes.subarray(0, 20).toString('hex')}`;
      case 'tron':
        return `T${pickChars(base58, 33)}`;
      case 'base58':
        return pickChars(base58, 44);
    }
  }
}

function describeFormat(network: NetworkSpec): string {
  switch (network.addressFormat) {
    case 'bech32':
      return 'a bc1… bech32 or a 1…/3… base58 address';
    case 'hex40':
      return '0x followed by 40 hex digits';
    case 'tron':
      return 'T followed by 33 base58 characters';
    case 'base58':
      return '32 to 44 base58 characters';
  }
}
