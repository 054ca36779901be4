import { createHmac } from 'node:crypto';

/** The headers of every webhook notification. */
export const WEBHOOK_HEADERS = Object.freeze({
  /** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
  signature: 'x-tollgate-signature',
  /** `approval.requested`, `approval.granted`, `approval.denied` or `approval.expired`. */
  event: 'x-tollgate-event',
  /** The delivery id: the same at every attempt of one notification, so receivers deduplicate by it. */
  delivery: 'x-tollgate-delivery',
  /** Which attempt this is, from 1. */
  attempt: 'x-tollgate-attempt',
});

/**
 * The `X-Tollgate-Signature` header of a body sent at `unixSeconds`:
 * `t=<unixSeconds>,v1=<hex HMAC-SHA256 with the secret's UTF-8 bytes as key of "<t>.<body>">`.
 * The timestamp is signed with the body, so a receiver that refuses old timestamps (see
 * docs/approvals.md) cannot be fed a captured notification again later.
 *
 * @example
 * signWebhook('whsec-…', '{"event":"approval.requested",…}', 1767607200)
 * // 't=1767607200,v1=5f2b…'
 */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const t = Math.floor(unixSeconds);
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}
