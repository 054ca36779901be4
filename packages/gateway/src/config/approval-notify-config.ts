import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDuration } from '@tollgate/policy';
import { errorMessage } from '../gateway-error.js';
import type { ApprovalNotifyEvent, NotificationDeliveryConfig, WebhookReceiverConfig } from './gateway-config.js';

/** `approvals.notify[]` as the file has it (after schema validation). */
export interface RawWebhookReceiver {
  id?: string;
  url: string;
  secret?: string;
  secret_file?: string;
  events?: ApprovalNotifyEvent[];
  format?: 'json' | 'slack';
  timeout?: string;
  attempts?: number;
  backoff?: string;
  max_backoff?: string;
}

/** The notification keys of `approvals` as the file has them. */
export interface RawApprovalNotify {
  console_url?: string;
  notify?: RawWebhookReceiver[];
  delivery?: { concurrency?: number; queue?: number; sweep?: string };
}

/** What {@link resolveApprovalNotify} adds to `approvals`. */
export interface ApprovalNotifyConfig {
  readonly consoleUrl: string | undefined;
  readonly notify: readonly WebhookReceiverConfig[];
  readonly delivery: NotificationDeliveryConfig;
}

/** Every event, the default of `events`. */
const ALL_EVENTS: readonly ApprovalNotifyEvent[] = ['requested', 'granted', 'denied', 'expired'];
/** The defaults of a webhook: with them, 6 attempts span about 10 minutes (20 s, 40 s, 80 s, 160 s, 300 s). */
export const WEBHOOK_DEFAULTS = Object.freeze({ timeoutMs: 5000, attempts: 6, backoffMs: 20_000, maxBackoffMs: 300_000 });
/** The defaults of `approvals.delivery`. */
export const DELIVERY_DEFAULTS: NotificationDeliveryConfig = Object.freeze({ concurrency: 4, queue: 1000, sweepMs: 10_000 });
/** The shortest secret accepted: an HMAC key anyone could guess proves nothing. */
export const MIN_SECRET_LENGTH = 16;
const MAX_TIMEOUT_MS = 60_000;

/**
 * Checks and defaults `approvals.console_url`, `approvals.notify` and `approvals.delivery`:
 * reads each `secret_file` (relative to `baseDir`), requires a secret of at least
 * {@link MIN_SECRET_LENGTH} characters for signed JSON, refuses URLs with credentials and ids
 * that repeat, and gives each receiver without an `id` one derived from its URL (the same on
 * every replica with the same configuration). Problems are reported through `at`.
 */
export function resolveApprovalNotify(raw: RawApprovalNotify | undefined, baseDir: string, at: (pointer: string, message: string) => void): ApprovalNotifyConfig {
  const ids = new Map<string, number>();
  const notify = (raw?.notify ?? []).map((hook, i): WebhookReceiverConfig => {
    const where = `/approvals/notify/${i}`;
    const name = `approvals.notify[${i}]`;
    const format = hook.format ?? 'json';
    let url: URL | undefined;
    try {
      url = new URL(hook.url);
    } catch {
      at(`${where}/url`, `${name}.url is not a valid URL: ${JSON.stringify(hook.url)}`);
    }
    if (url && (url.username !== '' || url.password !== '')) {
      at(`${where}/url`, `${name}.url must not carry credentials (user:password@): the receiver authenticates the gateway by the signature`);
    }
    const secret = readSecret(hook, baseDir, where, name, at);
    if (secret === undefined && format === 'json' && hook.secret === undefined && hook.secret_file === undefined) {
      at(where, `${name} needs "secret" or "secret_file": JSON notifications are signed (X-Tollgate-Signature) so the receiver can tell they are the gateway's`);
    }
    const id = hook.id ?? defaultId(hook.url, url);
    const same = ids.get(id);
    if (same !== undefined) at(`${where}${hook.id === undefined ? '/url' : '/id'}`, `${name} has the id "${id}" of approvals.notify[${same}]: give each receiver an id of its own`);
    else ids.set(id, i);
    const timeoutMs = hook.timeout ? parseDuration(hook.timeout) : WEBHOOK_DEFAULTS.timeoutMs;
    if (timeoutMs > MAX_TIMEOUT_MS) at(`${where}/timeout`, `${name}.timeout must be at most ${MAX_TIMEOUT_MS / 1000}s (got "${hook.timeout}")`);
    const backoffMs = hook.backoff ? parseDuration(hook.backoff) : WEBHOOK_DEFAULTS.backoffMs;
    const maxBackoffMs = hook.max_backoff ? parseDuration(hook.max_backoff) : Math.max(WEBHOOK_DEFAULTS.maxBackoffMs, backoffMs);
    if (backoffMs > maxBackoffMs) at(`${where}/backoff`, `${name}.backoff ("${hook.backoff}") must not be longer than its max_backoff ("${hook.max_backoff}")`);
    return {
      id,
      url: hook.url,
      secret,
      events: [...(hook.events ?? ALL_EVENTS)],
      format,
      timeoutMs,
      attempts: hook.attempts ?? WEBHOOK_DEFAULTS.attempts,
      backoffMs,
      maxBackoffMs,
    };
  });
  return {
    consoleUrl: raw?.console_url?.replace(/\/+$/, ''),
    notify,
    delivery: {
      concurrency: raw?.delivery?.concurrency ?? DELIVERY_DEFAULTS.concurrency,
      queue: raw?.delivery?.queue ?? DELIVERY_DEFAULTS.queue,
      sweepMs: raw?.delivery?.sweep ? parseDuration(raw.delivery.sweep) : DELIVERY_DEFAULTS.sweepMs,
    },
  };
}

function readSecret(hook: RawWebhookReceiver, baseDir: string, where: string, name: string, at: (pointer: string, message: string) => void): string | undefined {
  if (hook.secret !== undefined && hook.secret_file !== undefined) {
    at(where, `${name} takes "secret" or "secret_file", not both`);
    return undefined;
  }
  let secret = hook.secret;
  let pointer = `${where}/secret`;
  if (hook.secret_file !== undefined) {
    pointer = `${where}/secret_file`;
    const file = resolve(baseDir, hook.secret_file);
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (error) {
      at(pointer, `${name}.secret_file: cannot read ${file}: ${errorMessage(error)}`);
      return undefined;
    }
  }
  if (secret === undefined) return undefined;
  if (secret.length < MIN_SECRET_LENGTH) {
    at(pointer, `${name}'s secret is ${secret.length} characters long: use at least ${MIN_SECRET_LENGTH} random ones (e.g. the output of \`openssl rand -hex 32\`)`);
    return undefined;
  }
  return secret;
}

/** `<host>-<8 hex of the URL's SHA-256>`: readable, distinct per URL, and no secret of the URL's path in it. */
function defaultId(text: string, url: URL | undefined): string {
  const host = (url?.hostname ?? 'webhook').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 48) || 'webhook';
  return `${host}-${createHash('sha256').update(text).digest('hex').slice(0, 8)}`;
}
