import type { FeedDecision, FeedMinute } from '../metrics/decision-feed.js';
import type { ApprovalBody } from './approvals-api.js';

/**
 * What the approvals console's server and its page say to each other (JSON, snake_case):
 * the bodies of `/console/api/*` and the events of `/console/api/events`. Types only, so the
 * page's code shares them without any of the server's.
 */

/** Who is signed in. */
export interface ConsoleIdentity {
  readonly kind: 'approver' | 'admin';
  readonly id: string;
  readonly groups: readonly string[];
}

/** `GET /console/api/session` and `POST /console/api/session` (sign-in). */
export interface ConsoleSessionBody {
  readonly identity: ConsoleIdentity;
  /** Sent back as `X-CSRF-Token` on every state-changing request of the session. */
  readonly csrf_token: string;
  /** When the session ends at the latest (ISO 8601). */
  readonly expires_at: string;
}

/** An approval request as the console shows it: the admin API's body, plus the agent's configured labels. */
export interface ConsoleApproval extends ApprovalBody {
  readonly agent_labels: Readonly<Record<string, string>>;
}

/** The `snapshot` event, first on every (re)connected stream: everything the page shows. */
export interface ConsoleSnapshot {
  /** The server's clock (ISO 8601), so the page's countdowns do not depend on the browser's. */
  readonly server_time: string;
  readonly identity: ConsoleIdentity;
  /** Whether this gateway has an approval store (without one nothing is ever held). */
  readonly approvals_enabled: boolean;
  /** Pending requests, newest first. */
  readonly pending: readonly ConsoleApproval[];
  /** Decided, expired and used requests, newest first (bounded). */
  readonly history: readonly ConsoleApproval[];
  /** The most recent decisions, oldest first (bounded). */
  readonly decisions: readonly FeedDecision[];
  /** Decisions per minute by effect over the last hour, oldest first. */
  readonly per_minute: readonly FeedMinute[];
}

/** The `signed-out` event: the session ended (sign-out elsewhere, expiry); the stream closes after it. */
export interface ConsoleSignedOut {
  readonly reason: string;
}

/** The events of `/console/api/events` and their data. */
export interface ConsoleEvents {
  readonly snapshot: ConsoleSnapshot;
  /** A request changed (opened, voted on, decided, expired, used). */
  readonly approval: ConsoleApproval;
  /** A decision was recorded. */
  readonly decision: FeedDecision;
  readonly 'signed-out': ConsoleSignedOut;
}

/** An error body of the console's API. */
export interface ConsoleErrorBody {
  readonly error: string;
  /** For a refused vote: the request as it is now. */
  readonly approval?: ConsoleApproval;
}
