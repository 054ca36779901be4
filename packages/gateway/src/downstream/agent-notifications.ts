/**
 * The MCP methods an agent (an MCP client) may send, from the protocol's schema
 * (`ClientRequestSchema`, `ClientNotificationSchema` of @modelcontextprotocol/sdk), and what
 * the gateway does with each notification. The lists are fixed: they double as the only
 * values a metric label may take.
 */

/** Every request method MCP defines for clients. */
export const CLIENT_REQUEST_METHODS = Object.freeze([
  'ping',
  'initialize',
  'completion/complete',
  'logging/setLevel',
  'prompts/get',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'tools/call',
  'tools/list',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
] as const);

/** Every notification method MCP defines for clients. */
export const CLIENT_NOTIFICATION_METHODS = Object.freeze([
  'notifications/cancelled',
  'notifications/progress',
  'notifications/initialized',
  'notifications/roots/list_changed',
  'notifications/tasks/status',
] as const);

/**
 * Notifications the session itself consumes (the SDK's `Server`): `initialized` ends the
 * handshake, `cancelled` aborts the call it names (which cancels it upstream, through the
 * call's abort signal), `progress` is about a request the gateway made of the agent.
 */
export const CONSUMED_NOTIFICATIONS: ReadonlySet<string> = new Set(['notifications/initialized', 'notifications/cancelled', 'notifications/progress']);

/**
 * Notifications taken and then ignored: `roots/list_changed` is the agent's to send, but the
 * gateway's connections to upstreams declare no roots capability (it relays no `roots/list`),
 * so there is nobody to tell.
 */
export const IGNORED_NOTIFICATIONS: ReadonlySet<string> = new Set(['notifications/roots/list_changed']);

/** A method as a metric label: one of the MCP client methods, or `other`. */
export type AgentMethodLabel = (typeof CLIENT_REQUEST_METHODS)[number] | (typeof CLIENT_NOTIFICATION_METHODS)[number] | 'other';

const KNOWN: ReadonlySet<string> = new Set<string>([...CLIENT_REQUEST_METHODS, ...CLIENT_NOTIFICATION_METHODS]);

/**
 * Whether the gateway takes a notification from an agent. No agent notification is passed on
 * to an upstream as it is. Anything else — a request method sent without an `id`
 * (`tools/call` as a notification would reach the upstream with no decision and no ledger
 * row), `notifications/tasks/status` (the gateway never hands the agent a task), a vendor
 * notification — is dropped.
 */
export function acceptsNotification(method: string): boolean {
  return CONSUMED_NOTIFICATIONS.has(method) || IGNORED_NOTIFICATIONS.has(method);
}

/** `method` as a bounded metric label: itself when MCP defines it for clients, else `other`. */
export function methodLabel(method: unknown): AgentMethodLabel {
  return typeof method === 'string' && KNOWN.has(method) ? (method as AgentMethodLabel) : 'other';
}
