-- Views that answer the questions auditors ask (docs/audit.md explains each one). They read
-- `ledger_events` only; none of them changes anything.

-- Who called what, and when: one row per decision, with the call's outcome when it ran.
CREATE VIEW audit_calls AS
SELECT d.call_id,
       d.occurred_at       AS decided_at,
       d.agent_id,
       d.session_id,
       d.server,
       d.tool,
       d.effect,
       d.rule,
       d.reason,
       d.policy_revision,
       d.policy_digest,
       d.args,
       d.args_sha256,
       d.approval_id,
       o.outcome_status,
       o.duration_ms,
       o.result_sha256,
       o.occurred_at       AS completed_at,
       d.strand_id,
       d.seq,
       d.event_id          AS decision_event_id
FROM ledger_events d
LEFT JOIN LATERAL (
  SELECT x.outcome_status, x.duration_ms, x.result_sha256, x.occurred_at
  FROM ledger_events x
  WHERE x.call_id = d.call_id AND x.event_type = 'outcome'
  ORDER BY x.occurred_at, x.event_id
  LIMIT 1
) o ON true
WHERE d.event_type = 'decision';

-- Denials by rule, tool and agent.
CREATE VIEW audit_denials AS
SELECT rule,
       server,
       tool,
       agent_id,
       count(*)         AS denials,
       min(occurred_at) AS first_at,
       max(occurred_at) AS last_at
FROM ledger_events
WHERE event_type = 'decision' AND effect = 'deny'
GROUP BY rule, server, tool, agent_id;

-- Approvals: who asked, who decided, and two red flags — the requester approved its own call,
-- or the call that ran did not carry the arguments that were approved.
CREATE VIEW audit_approvals AS
SELECT r.approval_id,
       r.occurred_at                                   AS requested_at,
       r.agent_id                                      AS requester,
       r.session_id,
       r.server,
       r.tool,
       r.call_id,
       r.rule,
       r.reason,
       r.policy_revision,
       r.args_sha256                                   AS requested_args_sha256,
       CASE res.event_type
         WHEN 'approval.granted' THEN 'granted'
         WHEN 'approval.denied'  THEN 'denied'
         WHEN 'approval.expired' THEN 'expired'
         ELSE 'pending'
       END                                             AS resolution,
       res.approver,
       res.occurred_at                                 AS resolved_at,
       coalesce(res.args_sha256, r.args_sha256)        AS approved_args_sha256,
       ex.executions,
       ex.first_executed_at                            AS executed_at,
       ex.executed_args_sha256,
       (res.approver IS NOT NULL AND res.approver = r.agent_id)                         AS self_approved,
       (ex.executions > 0
         AND ex.executed_args_sha256 IS DISTINCT FROM coalesce(res.args_sha256, r.args_sha256)) AS args_mismatch,
       (ex.executions > 0 AND res.event_type IS DISTINCT FROM 'approval.granted')        AS executed_without_grant,
       (ex.executions > 1)                                                               AS reused
FROM ledger_events r
LEFT JOIN LATERAL (
  SELECT x.event_type, x.approver, x.occurred_at, x.args_sha256
  FROM ledger_events x
  WHERE x.approval_id = r.approval_id
    AND x.event_type IN ('approval.granted', 'approval.denied', 'approval.expired')
  ORDER BY x.occurred_at, x.event_id
  LIMIT 1
) res ON true
LEFT JOIN LATERAL (
  SELECT count(*)                                                      AS executions,
         min(x.occurred_at)                                            AS first_executed_at,
         (array_agg(x.args_sha256 ORDER BY x.occurred_at, x.event_id))[1] AS executed_args_sha256
  FROM ledger_events x
  WHERE x.approval_id = r.approval_id AND x.event_type = 'decision' AND x.effect = 'allow'
) ex ON true
WHERE r.event_type = 'approval.requested';

-- Policy revisions: every activation and every refused bundle.
CREATE VIEW audit_policy_activations AS
SELECT occurred_at,
       CASE event_type WHEN 'policy.activated' THEN 'activated' ELSE 'rejected' END AS status,
       server,
       policy_revision,
       policy_digest,
       reason,
       detail,
       strand_id,
       seq
FROM ledger_events
WHERE event_type IN ('policy.activated', 'policy.rejected');

-- Which revision decided how many calls, and when it was activated. A revision that decided
-- calls but was never recorded as activated has activated_at NULL: a finding.
CREATE VIEW audit_policy_revisions AS
WITH decided AS (
  SELECT policy_revision, policy_digest,
         count(*) AS decisions, min(occurred_at) AS first_decision_at, max(occurred_at) AS last_decision_at
  FROM ledger_events
  WHERE event_type = 'decision'
  GROUP BY policy_revision, policy_digest
), activated AS (
  SELECT policy_revision, policy_digest, min(occurred_at) AS activated_at
  FROM ledger_events
  WHERE event_type = 'policy.activated'
  GROUP BY policy_revision, policy_digest
), revisions AS (
  SELECT policy_revision, policy_digest FROM decided
  UNION
  SELECT policy_revision, policy_digest FROM activated
)
SELECT r.policy_revision,
       r.policy_digest,
       a.activated_at,
       coalesce(d.decisions, 0) AS decisions,
       d.first_decision_at,
       d.last_decision_at
FROM revisions r
LEFT JOIN decided d
  ON d.policy_revision IS NOT DISTINCT FROM r.policy_revision
 AND d.policy_digest IS NOT DISTINCT FROM r.policy_digest
LEFT JOIN activated a
  ON a.policy_revision IS NOT DISTINCT FROM r.policy_revision
 AND a.policy_digest IS NOT DISTINCT FROM r.policy_digest;

-- Completeness: calls the policy allowed whose outcome was never recorded (the gateway
-- stopped between forwarding and recording, or an outcome was removed).
CREATE VIEW audit_allowed_without_outcome AS
SELECT d.call_id,
       d.occurred_at AS decided_at,
       d.agent_id,
       d.session_id,
       d.server,
       d.tool,
       d.rule,
       d.policy_revision,
       d.strand_id,
       d.seq,
       d.event_id
FROM ledger_events d
WHERE d.event_type = 'decision'
  AND d.effect = 'allow'
  AND NOT EXISTS (
    SELECT 1 FROM ledger_events o WHERE o.call_id = d.call_id AND o.event_type = 'outcome'
  );

-- Completeness: holes in a strand's sequence (events removed from the ledger).
CREATE VIEW audit_sequence_gaps AS
SELECT strand_id,
       prev_seq + 1       AS missing_from,
       seq - 1            AS missing_to,
       seq - prev_seq - 1 AS missing
FROM (
  SELECT strand_id, seq, lag(seq, 1, 0::bigint) OVER (PARTITION BY strand_id ORDER BY seq) AS prev_seq
  FROM ledger_events
) s
WHERE seq > prev_seq + 1;

-- One session's full timeline: filter on session_id and order by occurred_at.
CREATE VIEW audit_session_timeline AS
SELECT session_id,
       occurred_at,
       event_type,
       call_id,
       agent_id,
       server,
       tool,
       effect,
       rule,
       reason,
       args_sha256,
       approval_id,
       approver,
       outcome_status,
       duration_ms,
       policy_revision,
       strand_id,
       seq,
       event_id
FROM ledger_events
WHERE session_id IS NOT NULL;

-- Tool use by agent, for every tool.
CREATE VIEW audit_tool_usage_by_agent AS
SELECT agent_id,
       server,
       tool,
       count(*)                                           AS decisions,
       count(*) FILTER (WHERE effect = 'allow')            AS allowed,
       count(*) FILTER (WHERE effect = 'deny')             AS denied,
       count(*) FILTER (WHERE effect = 'approval_required') AS approval_required,
       count(*) FILTER (WHERE effect = 'hidden')           AS hidden,
       min(occurred_at)                                   AS first_at,
       max(occurred_at)                                   AS last_at
FROM ledger_events
WHERE event_type = 'decision'
GROUP BY agent_id, server, tool;

-- The tools your risk review calls sensitive (for example the critical and high tools of
-- `tollgate catalog pull`). Reference data kept by the ledger's operators, not evidence: it
-- is the one table here that may be edited. server '*' matches every server.
CREATE TABLE audit_sensitive_tools (
  server text NOT NULL DEFAULT '*',
  tool   text NOT NULL,
  risk   text NOT NULL DEFAULT 'high' CHECK (risk IN ('critical', 'high', 'medium', 'low')),
  PRIMARY KEY (server, tool)
);

-- Sensitive tools by agent.
CREATE VIEW audit_sensitive_tool_usage AS
SELECT u.agent_id,
       u.server,
       u.tool,
       s.risk,
       u.decisions,
       u.allowed,
       u.denied,
       u.approval_required,
       u.first_at,
       u.last_at
FROM audit_tool_usage_by_agent u
JOIN audit_sensitive_tools s
  ON s.tool = u.tool AND (s.server = '*' OR s.server = u.server);

-- A denied call followed by the same agent calling the same tool with different arguments:
-- probing for a way around a rule. `retry_effect` says whether the retry got through.
CREATE VIEW audit_denied_then_retried AS
SELECT d.call_id          AS denied_call_id,
       d.occurred_at      AS denied_at,
       d.agent_id,
       d.session_id,
       d.server,
       d.tool,
       d.rule             AS denied_rule,
       d.reason           AS denied_reason,
       d.args_sha256      AS denied_args_sha256,
       r.call_id          AS retry_call_id,
       r.occurred_at      AS retried_at,
       r.args_sha256      AS retry_args_sha256,
       r.effect           AS retry_effect,
       r.rule             AS retry_rule,
       r.occurred_at - d.occurred_at AS retried_after
FROM ledger_events d
JOIN LATERAL (
  SELECT x.call_id, x.occurred_at, x.args_sha256, x.effect, x.rule
  FROM ledger_events x
  WHERE x.event_type = 'decision'
    AND x.agent_id = d.agent_id
    AND x.server IS NOT DISTINCT FROM d.server
    AND x.tool = d.tool
    AND (x.occurred_at, x.event_id) > (d.occurred_at, d.event_id)
  ORDER BY x.occurred_at, x.event_id
  LIMIT 1
) r ON true
WHERE d.event_type = 'decision'
  AND d.effect = 'deny'
  AND r.args_sha256 IS DISTINCT FROM d.args_sha256;

-- Integrity evidence: the signed checkpoints and the recorded verification runs.
CREATE VIEW audit_checkpoints AS
SELECT c.checkpoint_id,
       c.created_at,
       c.key_id,
       jsonb_array_length(c.heads)                                        AS strands,
       (SELECT coalesce(sum((h ->> 'seq')::bigint), 0) FROM jsonb_array_elements(c.heads) h) AS events_covered
FROM ledger_checkpoints c;

CREATE VIEW audit_verifications AS
SELECT verification_id,
       verified_at,
       ok,
       strands,
       events,
       checkpoints,
       problems,
       missing_outcomes,
       first_problem
FROM ledger_verifications;

-- Retention: what the ledger holds, month by month (UTC).
CREATE VIEW audit_retention AS
SELECT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS month,
       count(*)                                           AS events,
       count(DISTINCT strand_id)                          AS strands,
       min(occurred_at)                                   AS first_at,
       max(occurred_at)                                   AS last_at
FROM ledger_events
GROUP BY 1;

-- Grant the new views to tollgate_auditor (see 0002_ledger_roles.sql).
SELECT ledger_apply_roles();
