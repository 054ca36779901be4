/** ANSI styling for pretty output; every method is the identity when colour is off. */
export interface TerminalStyle {
  readonly enabled: boolean;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const wrap = (open: number, close: number) => (text: string): string => `\u001b[${open}m${text}\u001b[${close}m`;
const identity = (text: string): string => text;

/**
 * A {@link TerminalStyle} that colours when `enabled` is true.
 *
 * @example
 * const style = terminalStyle(shouldColour(process.stdout));
 * console.log(style.red('error'));
 */
export function terminalStyle(enabled: boolean): TerminalStyle {
  if (!enabled) return { enabled, red: identity, green: identity, yellow: identity, cyan: identity, dim: identity, bold: identity };
  return { enabled, red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

/**
 * Whether to colour output written to `stream`: only on a TTY, never with `NO_COLOR` set,
 * and `FORCE_COLOR` (other than `0`) forces it on (https://no-color.org).
 */
export function shouldColour(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['FORCE_COLOR'] !== undefined) return env['FORCE_COLOR'] !== '0';
  return stream.isTTY === true;
}
