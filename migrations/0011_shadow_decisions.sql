-- Shadow mode (docs/policy-language.md, "Shadow mode"): a policy or a tool rule marked
-- "shadow": true is evaluated for the record only. Its would-be decision is kept beside the
-- enforced one on the decision event:
--   shadow_effect  what it would have decided (allow, deny, approval_required, hidden)
--   shadow_rule    the rule that would have decided (null for a would-be plain allow)
-- Both are null when nothing in shadow mode was evaluated, and for every event written
-- before this migration. The hash chain leaves them out of an event's canonical form when
-- they are null (docs/ledger.md), so events chained before this migration still verify.
--
-- Numbered after 0010: migrations apply in order, and a file numbered before an applied one
-- is refused.

ALTER TABLE ledger_events
  ADD COLUMN shadow_effect text CHECK (shadow_effect IN ('allow', 'deny', 'approval_required', 'hidden')),
  ADD COLUMN shadow_rule   text,
  ADD CONSTRAINT ledger_events_shadow_on_decisions
    CHECK ((shadow_effect IS NULL AND shadow_rule IS NULL) OR (event_type = 'decision' AND shadow_effect IS NOT NULL));

COMMENT ON COLUMN ledger_events.shadow_effect IS
  'What a policy or tool rule in shadow mode would have decided (decision events only); null when nothing was in shadow.';
COMMENT ON COLUMN ledger_events.shadow_rule IS
  'The rule that would have decided in shadow mode; null for a would-be plain allow or when nothing was in shadow.';

CREATE INDEX ledger_events_shadow ON ledger_events (shadow_effect, shadow_rule) WHERE shadow_effect IS NOT NULL;

-- audit_calls gains the two columns (at the end, as CREATE OR REPLACE VIEW requires).
CREATE OR REPLACE VIEW audit_calls AS
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
       d.event_id          AS decision_event_id,
       d.shadow_effect,
       d.shadow_rule
FROM ledger_events d
LEFT JOIN LATERAL (
  SELECT x.outcome_status, x.duration_ms, x.result_sha256, x.occurred_at
  FROM ledger_events x
  WHERE x.call_id = d.call_id AND x.event_type = 'outcome'
  ORDER BY x.occurred_at, x.event_id
  LIMIT 1
) o ON true
WHERE d.event_type = 'decision';

-- What a rollout of the rules in shadow would change: one row per decision that had something
-- in shadow mode, with whether the would-be decision differs from the enforced one.
CREATE VIEW audit_shadow_decisions AS
SELECT d.call_id,
       d.occurred_at                                AS decided_at,
       d.agent_id,
       d.session_id,
       d.server,
       d.tool,
       d.effect,
       d.rule,
       d.shadow_effect,
       d.shadow_rule,
       (d.shadow_effect IS DISTINCT FROM d.effect)  AS differs,
       d.policy_revision,
       d.policy_digest,
       d.args_sha256,
       d.strand_id,
       d.seq,
       d.event_id
FROM ledger_events d
WHERE d.event_type = 'decision' AND d.shadow_effect IS NOT NULL;

-- Per tool and would-be rule: how many calls the rules in shadow would have decided
-- differently, and how (e.g. allow -> deny: calls a rollout would start refusing).
CREATE VIEW audit_shadow_summary AS
SELECT server,
       tool,
       shadow_rule,
       effect            AS enforced_effect,
       shadow_effect,
       count(*)          AS decisions,
       min(occurred_at)  AS first_at,
       max(occurred_at)  AS last_at
FROM ledger_events
WHERE event_type = 'decision' AND shadow_effect IS NOT NULL
GROUP BY server, tool, shadow_rule, effect, shadow_effect;

-- Grant the new views to tollgate_auditor (see 0002_ledger_roles.sql).
SELECT ledger_apply_roles();
