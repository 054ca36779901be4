import type { AdminPolicyReport } from '@tollgate/gateway';
import { adminRequest, type AdminConnection } from '../admin/admin-client.js';
import { CliError, ExitCode } from '../cli-error.js';
import type { TerminalStyle } from '../render/terminal-style.js';

/** Options of {@link fetchGatewayStatus}: the admin API and the admin token. */
export type GatewayStatusOptions = AdminConnection;

/**
 * Asks a running gateway's admin API (`GET /policy`) what it enforces: each upstream's
 * policy, and for a Git source the active bundle's revision, commit and signers, the last
 * check and the last refusal.
 *
 * @throws CliError `admin.unreachable` (exit 2) when nothing answers, `admin.unauthorized`
 *   (exit 2) for a missing or wrong token, `admin.invalid` for an answer that is not the report.
 * @example
 * const report = await fetchGatewayStatus({ adminUrl: 'http://127.0.0.1:8081', token: process.env.TOLLGATE_ADMIN_TOKEN });
 */
export async function fetchGatewayStatus(options: GatewayStatusOptions): Promise<AdminPolicyReport> {
  const answer = await adminRequest(options, '/policy', {
    tokenHint: 'Pass the admin token with --token or TOLLGATE_ADMIN_TOKEN (its SHA-256 is admin.token_sha256 in the gateway config).',
  });
  const body = answer.body as AdminPolicyReport | undefined;
  if (answer.status !== 200 || !body || !Array.isArray(body.policies) || typeof body.source !== 'object' || body.source === null) {
    throw new CliError('admin.invalid', `the admin API at ${answer.url.origin} answered ${answer.status} without a policy report: is this a Tollgate gateway's admin port?`, { exit: ExitCode.input });
  }
  return body;
}

/** The report as text for a terminal. */
export function renderGatewayStatus(report: AdminPolicyReport, style: TerminalStyle): string {
  const lines: string[] = [];
  const source = report.source;
  if (source.kind === 'git') {
    lines.push(`${style.bold('Policy source')}  ${source.location}`);
    const b = source.bundle;
    if (b) {
      lines.push(`  revision       ${style.bold(String(b.revision))}${b.via === 'restored' ? style.dim(' (restored from the state directory)') : ''}`);
      lines.push(`  built from     ${b.git_commit ? `commit ${b.git_commit}` : style.dim('no commit recorded')}`);
      lines.push(`  read at        ${b.commit ? `commit ${b.commit}` : style.dim('unknown')}`);
      lines.push(`  signers        ${b.signers.join(', ')}`);
      lines.push(`  digest         ${b.digest}`);
      lines.push(`  activated at   ${b.activated_at}`);
      if (b.expires_at) lines.push(`  expires at     ${b.expires_at}`);
    } else lines.push(`  ${style.red('no bundle is active')}`);
    const c = source.last_check;
    if (c) lines.push(`  last check     ${c.at} ${c.outcome === 'error' ? style.red(`error: ${c.error ?? ''}`) : c.outcome}${c.commit ? style.dim(` at ${c.commit.slice(0, 12)}`) : ''}`);
    else lines.push(`  last check     ${style.dim('none yet')}`);
    const r = source.last_refusal;
    if (r) {
      const what = r.revision === null ? 'a bundle' : `revision ${r.revision}`;
      lines.push(`  last refusal   ${r.at} ${style.yellow(r.code)}: ${what}${r.commit ? ` at ${r.commit.slice(0, 12)}` : ''}`);
      lines.push(`                 ${r.message}`);
    } else lines.push(`  last refusal   ${style.dim('none')}`);
  } else lines.push(`${style.bold('Policy source')}  a policy directory`);
  lines.push('');
  lines.push(style.bold('Upstreams'));
  for (const p of report.policies) {
    const revision = p.revision === null ? style.dim('no revision') : `revision ${p.revision}`;
    lines.push(`  ${style.cyan(p.server)}  ${revision}  digest ${p.digest.slice(0, 16)}…  ${p.rules} rule(s)  since ${p.activated_at}`);
  }
  if (report.policies.length === 0) lines.push(`  ${style.red('none')}`);
  return lines.join('\n');
}
