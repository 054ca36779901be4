import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';

/**
 * The codes of the gateway's own tool results: the policy's (`policy.denied`, `rate_limited`,
 * `approval.required`, `approval.denied`, `approval.expired`, `invalid_arguments`) and the gateway's (`ledger.unavailable`,
 * `limits.unavailable`, `policy.unavailable`, `decision.timeout`, `upstream.unavailable`,
 * `gateway.closing`).
 */
export type RefusalCode =
  | 'policy.denied'
  | 'rate_limited'
  | 'approval.required'
  | 'approval.denied'
  | 'approval.expired'
  | 'invalid_arguments'
  | 'ledger.unavailable'
  | 'limits.unavailable'
  | 'approvals.unavailable'
  | 'policy.unavailable'
  | 'decision.timeout'
  | 'upstream.unavailable'
  | 'gateway.closing';

/** The machine-readable part of a refusal: what an agent (or its developer) can act on. */
export interface RefusalContent {
  readonly code: RefusalCode;
  /** The rule that decided (`null` when no decision could be recorded, e.g. the ledger was unavailable). */
  readonly rule: string | null;
  /** The call's id in the ledger (`call_id`), to find its decision. */
  readonly decision_id: string;
  /** Seconds until a rate-limited call may succeed. */
  readonly retry_after?: number;
  readonly [key: string]: unknown;
}

/** The `_meta` key under which every refusal carries its {@link RefusalContent}. */
export const REFUSAL_META_KEY = 'tollgate/refusal';

const PREFIX: Record<RefusalCode, string> = {
  'policy.denied': '[POLICY DENIED]',
  rate_limited: '[POLICY DENIED]',
  invalid_arguments: '[POLICY DENIED]',
  'approval.required': '[APPROVAL REQUIRED]',
  'approval.denied': '[APPROVAL DENIED]',
  'approval.expired': '[APPROVAL EXPIRED]',
  'ledger.unavailable': '[GATEWAY ERROR]',
  'limits.unavailable': '[GATEWAY ERROR]',
  'approvals.unavailable': '[GATEWAY ERROR]',
  'policy.unavailable': '[GATEWAY ERROR]',
  'decision.timeout': '[GATEWAY ERROR]',
  'upstream.unavailable': '[GATEWAY ERROR]',
  'gateway.closing': '[GATEWAY ERROR]',
};

/**
 * A refusal as a tool result (never an HTTP error): `isError: true`, one text block
 * `[POLICY DENIED] <reason>` (or `[APPROVAL REQUIRED]`, `[GATEWAY ERROR]`), and the
 * machine-readable {@link RefusalContent} in `_meta["tollgate/refusal"]` and, for a tool
 * that declares no `outputSchema`, as `structuredContent` too. A tool with an output schema
 * gets no `structuredContent`: MCP clients (the TypeScript SDK's `callTool` among them)
 * validate it against that schema even for errors, and the agent would never see the reason.
 *
 * @example
 * refusal('Requires human approval.', { code: 'policy.denied', rule: 'tools.cancel_order.deny_if[0]', decision_id: id })
 */
export function refusal(reason: string, content: RefusalContent, outputSchema?: unknown): CallToolResult {
  const result: CallToolResult = {
    content: [{ type: 'text', text: `${PREFIX[content.code]} ${reason}` }],
    isError: true,
    _meta: { [REFUSAL_META_KEY]: { ...content } },
  };
  if (outputSchema === undefined) result.structuredContent = { ...content };
  return result;
}

/** A JSON-RPC error with a code, as the SDK sends it to the agent (`{ code, message }`). */
export class JsonRpcError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'JsonRpcError';
    this.code = code;
  }
}

/**
 * The answer to a call of a tool that does not exist — and, identically, of a hidden tool:
 * JSON-RPC error -32602 `Unknown tool: <name>`.
 */
export function unknownTool(name: string): JsonRpcError {
  return new JsonRpcError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
}
