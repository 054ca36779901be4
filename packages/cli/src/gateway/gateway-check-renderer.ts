import type { TerminalStyle } from '../render/terminal-style.js';
import type { GatewayCheckReport } from './gateway-check.js';

/**
 * `tollgate gateway --check` for people: one line per check — its status, what and which,
 * and the detail — then the verdict and the summary line.
 *
 * @example
 * ok       config    /etc/tollgate/gateway.yaml  valid: 1 upstream(s), policy from a directory
 * error    upstream  ccxt                        cannot connect: spawn node-x ENOENT
 *
 * The gateway would not start cleanly: 1 error.
 * 4 ok, 0 warnings, 1 error
 */
export function renderGatewayCheck(report: GatewayCheckReport, style: TerminalStyle): string {
  const paint = { ok: style.green, warning: style.yellow, error: style.red } as const;
  const nameWidth = Math.min(48, Math.max(...report.checks.map((c) => c.name.length)));
  const lines = report.checks.map((c) => `${paint[c.status](c.status.padEnd(8))} ${c.what.padEnd(9)} ${c.name.padEnd(nameWidth)}  ${c.detail}`);
  const errors = report.checks.filter((c) => c.status === 'error').length;
  const verdict = report.ok ? `The gateway of ${report.config} can start: every upstream, policy and the ledger answered.` : `The gateway of ${report.config} would not start cleanly: ${errors} error${errors === 1 ? '' : 's'} above.`;
  return `${lines.join('\n')}\n\n${verdict}\n${report.summary}\n`;
}
