// Rounding of prices, amounts and balances to a number of decimal places, the way an
// exchange's precision rules do it, without binary floating-point residue in the output.

/** Rounds to the nearest multiple of 10^-decimals. */
export function roundTo(value: number, decimals: number): number {
  return Number(value.toFixed(decimals));
}

/** Rounds towards zero to a multiple of 10^-decimals (CCXT's `amountToPrecision`). */
export function truncateTo(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  // The small epsilon keeps 0.3 / 0.1-style representation error from dropping a step.
  return Number((Math.trunc(value * scale + (value >= 0 ? 1e-7 : -1e-7)) / scale).toFixed(decimals));
}

/** Rounds up to a multiple of 10^-decimals. */
export function ceilTo(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Number((Math.ceil(value * scale - 1e-7) / scale).toFixed(decimals));
}

/** Rounds down to a multiple of 10^-decimals. */
export function floorTo(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Number((Math.floor(value * scale + 1e-7) / scale).toFixed(decimals));
}

/** Removes floating-point residue from a balance or cost (rounds to ten decimal places). */
export function tidy(value: number): number {
  const rounded = Number(value.toFixed(10));
  return Object.is(rounded, -0) ? 0 : rounded;
}

/** Tolerance of amount and balance comparisons, below any market's lot step or tick size. */
export const EPSILON = 1e-12;
