// Option contracts in CCXT's unified notation and their Black-Scholes value and greeks.

/** A parsed option symbol such as `BTC/USDT:USDT-251226-70000-C`. */
export interface OptionContract {
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  readonly settle: string;
  /** Expiry, epoch milliseconds (08:00 UTC on the expiry date, as on the large venues). */
  readonly expiry: number;
  readonly strike: number;
  readonly optionType: 'call' | 'put';
}

const OPTION_SYMBOL = /^([A-Z0-9]+)\/([A-Z0-9]+):([A-Z0-9]+)-(\d{2})(\d{2})(\d{2})-(\d+(?:\.\d+)?)-([CP])$/;

/**
 * Parses a CCXT option symbol `BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P`; `null` when `symbol`
 * is not in that form or names an impossible date or a zero strike.
 */
export function parseOptionSymbol(symbol: string): OptionContract | null {
  const m = OPTION_SYMBOL.exec(symbol);
  if (!m) return null;
  const [, base, quote, settle, yy, mm, dd, strikeText, kind] = m;
  if (!base || !quote || !settle || !yy || !mm || !dd || !strikeText || !kind) return null;
  const year = 2000 + Number(yy);
  const month = Number(mm);
  const day = Number(dd);
  const expiry = Date.UTC(year, month - 1, day, 8);
  const check = new Date(expiry);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  const strike = Number(strikeText);
  if (!(strike > 0)) return null;
  return { symbol, base, quote, settle, expiry, strike, optionType: kind === 'C' ? 'call' : 'put' };
}

/** Value and sensitivities of a European option. */
export interface OptionValuation {
  /** Fair value in the quote currency. */
  readonly price: number;
  readonly delta: number;
  readonly gamma: number;
  /** Change in value per calendar day. */
  readonly theta: number;
  /** Change in value per volatility point (1%). */
  readonly vega: number;
}

/**
 * Black-Scholes value of a European option with a zero interest rate (crypto convention).
 *
 * @param spot underlying price; @param strike strike price; @param years time to expiry;
 * @param volatility annualised implied volatility (0.6 = 60%).
 */
export function blackScholes(spot: number, strike: number, years: number, volatility: number, optionType: 'call' | 'put'): OptionValuation {
  const sqrtT = Math.sqrt(years);
  const sigmaSqrtT = volatility * sqrtT;
  const d1 = (Math.log(spot / strike) + 0.5 * volatility * volatility * years) / sigmaSqrtT;
  const d2 = d1 - sigmaSqrtT;
  const pdf = normalPdf(d1);
  const call = optionType === 'call';
  const price = call ? spot * normalCdf(d1) - strike * normalCdf(d2) : strike * normalCdf(-d2) - spot * normalCdf(-d1);
  return {
    price: Math.max(0, price),
    delta: call ? normalCdf(d1) : normalCdf(d1) - 1,
    gamma: pdf / (spot * sigmaSqrtT),
    theta: -(spot * pdf * volatility) / (2 * sqrtT) / 365,
    vega: (spot * pdf * sqrtT) / 100,
  };
}

function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/**
 * Standard normal cumulative distribution function: Hart's (1968) algorithm 5666 as given
 * by West, "Better approximations to cumulative normal functions" (2005), accurate to
 * double precision.
 */
export function normalCdf(x: number): number {
  const z = Math.abs(x);
  let c: number;
  if (z > 37) {
    c = 0;
  } else {
    const e = Math.exp(-0.5 * z * z);
    if (z < 7.07106781186547) {
      let n = 3.52624965998911e-2 * z + 0.700383064443688;
      n = n * z + 6.37396220353165;
      n = n * z + 33.912866078383;
      n = n * z + 112.079291497871;
      n = n * z + 221.213596169931;
      n = n * z + 220.206867912376;
      let d = 8.83883476483184e-2 * z + 1.75566716318264;
      d = d * z + 16.064177579207;
      d = d * z + 86.7807322029461;
      d = d * z + 296.564248779674;
      d = d * z + 637.333633378831;
      d = d * z + 793.826512519948;
      d = d * z + 440.413735824752;
      c = (e * n) / d;
    } else {
      let b = z + 0.65;
      b = z + 4 / b;
      b = z + 3 / b;
      b = z + 2 / b;
      b = z + 1 / b;
      c = e / b / 2.506628274631;
    }
  }
  return x > 0 ? 1 - c : c;
}
