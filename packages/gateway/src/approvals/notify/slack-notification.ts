import type { ApprovalTransition } from './approval-notifier.js';
import { notificationSummary, whoMayApprove } from './json-notification.js';

/** A Slack Block Kit block, as far as these messages use them. */
export type SlackBlock =
  | { readonly type: 'header'; readonly text: { readonly type: 'plain_text'; readonly text: string } }
  | { readonly type: 'section'; readonly text: SlackText; readonly fields?: readonly SlackText[] }
  | { readonly type: 'actions'; readonly elements: ReadonlyArray<{ readonly type: 'button'; readonly text: { readonly type: 'plain_text'; readonly text: string }; readonly url: string }> }
  | { readonly type: 'context'; readonly elements: readonly SlackText[] };

/** Slack `mrkdwn` text. */
export interface SlackText {
  readonly type: 'mrkdwn';
  readonly text: string;
}

/** A Slack incoming-webhook message: `text` (the notification and fallback line) and blocks. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly SlackBlock[];
}

// Slack's limits: header text 150, section text 3000, a field 2000, ten fields.
const HEADER_MAX = 150;
const SECTION_MAX = 3000;
const FIELD_MAX = 2000;
const ARGUMENTS_MAX = 2500;

const TITLES = { requested: 'Approval needed', granted: 'Approval granted', denied: 'Approval denied', expired: 'Approval expired' } as const;

/**
 * The notification of a transition as a Slack incoming-webhook message: a `text` line (what
 * notifications and clients without blocks show) and blocks with the call, the reason, who may
 * approve, the decisions so far, and a button to the console. Everything the agent controls
 * (the arguments) or the policy says is escaped, so a value like `<!channel>` or
 * `<https://evil|click>` is shown as typed, never as a mention or a link.
 */
export function renderSlackNotification(t: ApprovalTransition, consoleUrl: string | null): string {
  const r = t.record;
  const summary = notificationSummary(t);
  const fields: SlackText[] = [
    mrkdwn(`*Call*\n${code(`${r.server}/${r.tool}`)}`),
    mrkdwn(`*Agent*\n${escape(r.agentId)}${r.sessionId ? ` (session ${code(r.sessionId)})` : ''}`),
    mrkdwn(`*Rule*\n${code(r.rule)}`),
    mrkdwn(`*Who may approve*\n${escape(whoMayApprove(r))}`),
    mrkdwn(`*Status*\n${escape(r.status)}`),
    mrkdwn(`*Expires*\n${escape(r.expiresAt.toISOString())}`),
  ].map((f) => mrkdwn(clip(f.text, FIELD_MAX)));
  const args = JSON.stringify(r.args, null, 2) ?? 'null';
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(`${TITLES[t.event]}: ${r.server}/${r.tool}`, HEADER_MAX) } },
    { type: 'section', text: mrkdwn(clip(`${escape(summary)}\n*Reason:* ${escape(r.reason)}`, SECTION_MAX)), fields },
    { type: 'section', text: mrkdwn(`*Arguments* (redacted as in the ledger)\n\`\`\`${escape(clip(args, ARGUMENTS_MAX)).replace(/```/g, '`\u200b`\u200b`')}\`\`\``) },
  ];
  if (r.votes.length > 0) {
    const lines = r.votes.map((v) => `${v.decision === 'grant' ? 'granted' : 'denied'} by ${escape(v.approver)} at ${v.at.toISOString()}${v.reason ? `: ${escape(v.reason)}` : ''}`);
    blocks.push({ type: 'section', text: mrkdwn(clip(`*Decisions*\n${lines.join('\n')}`, SECTION_MAX)) });
  }
  if (consoleUrl !== null) {
    blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: t.event === 'requested' ? 'Review in the console' : 'Open in the console' }, url: consoleUrl }] });
  }
  blocks.push({ type: 'context', elements: [mrkdwn(`Approval ${code(r.id)} · policy ${r.policyRevision === null ? 'without revision' : `revision ${escape(r.policyRevision)}`}`)] });
  // The text is mrkdwn as well (it is what notifications show): escaped like the blocks.
  const message: SlackMessage = { text: clip(`${escape(summary)}${consoleUrl ? ` ${consoleUrl}` : ''}`, SECTION_MAX), blocks };
  return JSON.stringify(message);
}

function mrkdwn(text: string): SlackText {
  return { type: 'mrkdwn', text };
}

/** Slack's escaping of `&`, `<` and `>`: with it, nothing in the text is a mention, a link or a command. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Inline code; a backtick in the value would end it, so it becomes a quote. */
function code(text: string): string {
  return `\`${escape(text.replace(/`/g, "'"))}\``;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
