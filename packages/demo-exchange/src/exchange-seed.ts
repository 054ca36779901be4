// The reference data every demo exchange starts from: which venues exist, what they list,
// how much each account holds, fees, withdrawal networks. Plain frozen data; the state
// that changes lives in the wallet, the position book and the matching engine.

/** A traded base asset (all markets are quoted and settled in USDT). */
export interface AssetSpec {
  /** Currency code, e.g. `BTC`. */
  readonly code: string;
  /** Price level the generated price path oscillates around, in USDT. */
  readonly referencePrice: number;
  /** Decimal places of prices (the tick size is 10^-priceDecimals). */
  readonly priceDecimals: number;
  /** Decimal places of amounts (the lot step is 10^-amountDecimals). */
  readonly amountDecimals: number;
  /** Smallest order amount, in base units. */
  readonly minAmount: number;
  /** Typical size of one order book level, in base units. */
  readonly bookLevelSize: number;
  /** Typical traded volume per minute, in base units. */
  readonly volumePerMinute: number;
  /** At-the-money implied volatility of its options (annualised). */
  readonly impliedVolatility: number;
  /** Highest leverage its perpetual futures accept. */
  readonly maxLeverage: number;
}

/** The assets traded on every demo venue. */
export const ASSETS: readonly AssetSpec[] = Object.freeze([
  Object.freeze({ code: 'BTC', referencePrice: 65_000, priceDecimals: 2, amountDecimals: 5, minAmount: 0.00001, bookLevelSize: 0.6, volumePerMinute: 12, impliedVolatility: 0.55, maxLeverage: 125 }),
  Object.freeze({ code: 'ETH', referencePrice: 3_200, priceDecimals: 2, amountDecimals: 4, minAmount: 0.0001, bookLevelSize: 8, volumePerMinute: 150, impliedVolatility: 0.65, maxLeverage: 100 }),
  Object.freeze({ code: 'SOL', referencePrice: 150, priceDecimals: 3, amountDecimals: 2, minAmount: 0.01, bookLevelSize: 150, volumePerMinute: 2_500, impliedVolatility: 0.85, maxLeverage: 50 }),
]);

/** The quote and settlement currency of every market. */
export const QUOTE = 'USDT';

/** Maker and taker fee rates, as fractions of the traded notional. */
export interface FeeSchedule {
  readonly maker: number;
  readonly taker: number;
}

/** Fees of spot markets (charged in USDT). */
export const SPOT_FEES: FeeSchedule = Object.freeze({ maker: 0.001, taker: 0.001 });
/** Fees of perpetual futures markets (charged in USDT). */
export const FUTURES_FEES: FeeSchedule = Object.freeze({ maker: 0.0002, taker: 0.0005 });
/** Leverage of a futures market until `set_trading_leverage` changes it. */
export const DEFAULT_LEVERAGE = 10;
/** Maintenance margin rate used for liquidation prices. */
export const MAINTENANCE_MARGIN_RATE = 0.005;

/** Address formats the demo exchange checks withdrawal addresses against. */
export type AddressFormat = 'bech32' | 'hex40' | 'tron' | 'base58';

/** A network a currency can be deposited and withdrawn on. */
export interface NetworkSpec {
  /** CCXT network code, e.g. `ERC20`. */
  readonly id: string;
  /** Fee deducted from the balance on top of the withdrawn amount. */
  readonly withdrawFee: number;
  /** Smallest amount that may be withdrawn. */
  readonly withdrawMin: number;
  /** Address format of the network. */
  readonly addressFormat: AddressFormat;
}

/** A currency an account can hold. The first network is the default one. */
export interface CurrencySpec {
  readonly code: string;
  readonly name: string;
  readonly networks: readonly NetworkSpec[];
}

/** The currencies held on every demo venue. */
export const CURRENCIES: readonly CurrencySpec[] = Object.freeze([
  Object.freeze({ code: 'BTC', name: 'Bitcoin', networks: [{ id: 'BTC', withdrawFee: 0.0002, withdrawMin: 0.001, addressFormat: 'bech32' as const }] }),
  Object.freeze({ code: 'ETH', name: 'Ethereum', networks: [{ id: 'ERC20', withdrawFee: 0.0015, withdrawMin: 0.01, addressFormat: 'hex40' as const }] }),
  Object.freeze({ code: 'SOL', name: 'Solana', networks: [{ id: 'SOL', withdrawFee: 0.01, withdrawMin: 0.1, addressFormat: 'base58' as const }] }),
  Object.freeze({
    code: 'USDT',
    name: 'Tether USD',
    networks: [
      { id: 'ERC20', withdrawFee: 4, withdrawMin: 10, addressFormat: 'hex40' as const },
      { id: 'TRC20', withdrawFee: 1, withdrawMin: 10, addressFormat: 'tron' as const },
    ],
  }),
]);

/** The starting point of one venue (exchange id). */
export interface ExchangeSeed {
  /** CCXT exchange id, lower case, e.g. `binance`. */
  readonly id: string;
  /** Display name. */
  readonly name: string;
  /** Whether the venue lists USDT-margined perpetual futures (and options on them). */
  readonly futures: boolean;
  /** Free balance per currency code at start; currencies left out start at 0. */
  readonly balances: Readonly<Record<string, number>>;
}

/** The venues a demo exchange serves unless told otherwise. */
export const DEFAULT_EXCHANGES: readonly ExchangeSeed[] = Object.freeze([
  Object.freeze({ id: 'binance', name: 'Binance', futures: true, balances: Object.freeze({ USDT: 100_000, BTC: 1.5, ETH: 20, SOL: 400 }) }),
  Object.freeze({ id: 'kraken', name: 'Kraken', futures: true, balances: Object.freeze({ USDT: 50_000, BTC: 0.75, ETH: 10, SOL: 150 }) }),
  Object.freeze({ id: 'coinbase', name: 'Coinbase', futures: false, balances: Object.freeze({ USDT: 25_000, BTC: 0.25, ETH: 4, SOL: 60 }) }),
]);

/** Regular expressions of the address formats. */
export const ADDRESS_PATTERNS: Readonly<Record<AddressFormat, RegExp>> = Object.freeze({
  bech32: /^(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})$/,
  hex40: /^0x[0-9a-fA-F]{40}$/,
  tron: /^T[1-9A-HJ-NP-Za-km-z]{33}$/,
  base58: /^[1-9A-HJ-NP-Za-km-z]{32,44}$/,
});
