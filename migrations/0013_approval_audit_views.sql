-- Views on approvals (DESIGN §5) that answer what auditors ask about them — docs/audit.md,
-- section 3, explains each one. Views only: they read `ledger_events` and change nothing.
--
-- An approval's events come from every gateway replica (a request opened on one is often
-- granted through another), so each view reads all strands. An approval is decided by the
-- earliest of: the grant that brings its distinct approvers (never the requesting agent) to
-- the request's `detail.min_approvals`, its first denial, its expiry. `min_approvals` is read
-- as `tollgate ledger verify` reads it: a number of at least 1, rounded up; anything else
-- (absent in requests recorded before it was) counts as 1. `expires_at` is read only in the
-- form the writer stores it (ISO 8601 UTC with milliseconds); anything else reads as null.

-- audit_approvals (0003) keeps its columns and what they mean, reads `min_approvals`
-- (`resolution`, `approver` and `resolved_at` are now those of the deciding event: for an
-- approval that needs two approvers, the second grant, no longer the first), never counts a
-- grant by the requester towards it (such a grant shows in `self_approved` and `votes`), and
-- gains, at the end (as CREATE OR REPLACE VIEW requires), what it was about and how it ended:
--   min_approvals       grants by distinct approvers it needed
--   expires_at          when it expired, or would have
--   approvers           who granted it (distinct, never the requester), in order
--   denied_by           who denied it first, if anyone did
--   votes               every grant and denial: [{ approver, vote, reason, at }], in order
--   eligible_approvers  the ids or groups the rule allowed to decide (null: any approver)
--   status              used | granted (not used yet) | denied | expired | pending
--   executed_call_id    the (first) call that ran on it
--   executed_outcome    how that call ended (outcome_status), null while it has none
--   strand_id, seq, request_event_id   where the request is in the ledger
CREATE OR REPLACE VIEW audit_approvals AS
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
       coalesce(v.self_granted, false)                 AS self_approved,
       (ex.executions > 0
         AND ex.executed_args_sha256 IS DISTINCT FROM coalesce(res.args_sha256, r.args_sha256)) AS args_mismatch,
       (ex.executions > 0
         AND (res.event_type IS DISTINCT FROM 'approval.granted' OR v.denied_by IS NOT NULL))   AS executed_without_grant,
       (ex.executions > 1)                             AS reused,
       m.min_approvals,
       m.expires_at,
       coalesce(g.approvers, '{}'::text[])             AS approvers,
       v.denied_by,
       coalesce(v.votes, '[]'::jsonb)                  AS votes,
       r.detail -> 'approvers'                         AS eligible_approvers,
       CASE
         WHEN ex.executions > 0 THEN 'used'
         WHEN xp.occurred_at IS NOT NULL THEN 'expired'
         WHEN res.event_type = 'approval.granted' THEN 'granted'
         WHEN res.event_type = 'approval.denied' THEN 'denied'
         WHEN res.event_type = 'approval.expired' THEN 'expired'
         ELSE 'pending'
       END                                             AS status,
       ex.executed_call_id,
       eo.outcome_status                               AS executed_outcome,
       r.strand_id,
       r.seq,
       r.event_id                                      AS request_event_id
FROM ledger_events r
CROSS JOIN LATERAL (
  SELECT CASE WHEN jsonb_typeof(r.detail -> 'min_approvals') = 'number' THEN
           CASE WHEN (r.detail ->> 'min_approvals')::numeric >= 1
                THEN least(ceil((r.detail ->> 'min_approvals')::numeric), 2147483647)::integer
                ELSE 1 END
         ELSE 1
         END AS min_approvals,
         (jsonb_path_query_first(r.detail, '$.expires_at.datetime("YYYY-MM-DD\"T\"HH24:MI:SS.FF3\"Z\"")', '{}', true) #>> '{}')::timestamp
           AT TIME ZONE 'UTC' AS expires_at
) m
-- Every vote, and who denied first.
LEFT JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
           'approver', x.approver,
           'vote', CASE x.event_type WHEN 'approval.granted' THEN 'granted' ELSE 'denied' END,
           'reason', x.reason,
           'at', x.occurred_at) ORDER BY x.occurred_at, x.event_id)                          AS votes,
         bool_or(x.event_type = 'approval.granted' AND x.approver = r.agent_id)              AS self_granted,
         (array_agg(x.approver ORDER BY x.occurred_at, x.event_id)
            FILTER (WHERE x.event_type = 'approval.denied'))[1]                              AS denied_by
  FROM ledger_events x
  WHERE x.approval_id = r.approval_id AND x.event_type IN ('approval.granted', 'approval.denied')
) v ON true
-- The distinct approvers who granted it (the requester is no approver), by their first grant;
-- the min_approvals-th of them completed the grant.
LEFT JOIN LATERAL (
  SELECT array_agg(f.approver ORDER BY f.first_at, f.approver)                       AS approvers,
         (array_agg(f.approver ORDER BY f.first_at, f.approver))[m.min_approvals]    AS completed_by,
         (array_agg(f.first_at ORDER BY f.first_at, f.approver))[m.min_approvals]    AS completed_at,
         (array_agg(f.args_sha256 ORDER BY f.first_at, f.approver))[m.min_approvals] AS completed_args_sha256
  FROM (
    SELECT x.approver,
           min(x.occurred_at)                                          AS first_at,
           (array_agg(x.args_sha256 ORDER BY x.occurred_at, x.event_id))[1] AS args_sha256
    FROM ledger_events x
    WHERE x.approval_id = r.approval_id
      AND x.event_type = 'approval.granted'
      AND x.approver IS DISTINCT FROM r.agent_id
    GROUP BY x.approver
  ) f
) g ON true
LEFT JOIN LATERAL (
  SELECT x.approver, x.occurred_at, x.args_sha256
  FROM ledger_events x
  WHERE x.approval_id = r.approval_id AND x.event_type = 'approval.denied'
  ORDER BY x.occurred_at, x.event_id
  LIMIT 1
) dn ON true
LEFT JOIN LATERAL (
  SELECT x.occurred_at, x.args_sha256
  FROM ledger_events x
  WHERE x.approval_id = r.approval_id AND x.event_type = 'approval.expired'
  ORDER BY x.occurred_at, x.event_id
  LIMIT 1
) xp ON true
-- The deciding event: the earliest of the first denial, the completing grant and the expiry.
LEFT JOIN LATERAL (
  SELECT d.event_type, d.approver, d.occurred_at, d.args_sha256
  FROM (VALUES
          (1, 'approval.denied',  dn.approver,     dn.occurred_at,  dn.args_sha256),
          (2, 'approval.granted', g.completed_by,  g.completed_at,  g.completed_args_sha256),
          (3, 'approval.expired', NULL,            xp.occurred_at,  xp.args_sha256)
       ) AS d(rank, event_type, approver, occurred_at, args_sha256)
  WHERE d.occurred_at IS NOT NULL
  ORDER BY d.occurred_at, d.rank
  LIMIT 1
) res ON true
LEFT JOIN LATERAL (
  SELECT count(*)                                                         AS executions,
         min(x.occurred_at)                                               AS first_executed_at,
         (array_agg(x.args_sha256 ORDER BY x.occurred_at, x.event_id))[1] AS executed_args_sha256,
         (array_agg(x.call_id ORDER BY x.occurred_at, x.event_id))[1]     AS executed_call_id
  FROM ledger_events x
  WHERE x.approval_id = r.approval_id AND x.event_type = 'decision' AND x.effect = 'allow'
) ex ON true
LEFT JOIN LATERAL (
  SELECT o.outcome_status
  FROM ledger_events o
  WHERE o.call_id = ex.executed_call_id AND o.event_type = 'outcome'
  ORDER BY o.occurred_at, o.event_id
  LIMIT 1
) eo ON true
WHERE r.event_type = 'approval.requested';

-- Who approved what: one row per grant or denial, with what the approval was about (tool,
-- server, requesting agent, arguments digest), the approver's reason, and how the approval
-- ended (`status`, as in audit_approvals). `since_request` is the time from the request to the vote.
CREATE VIEW audit_approval_votes AS
SELECT v.approval_id,
       v.occurred_at                                     AS voted_at,
       v.approver,
       CASE v.event_type WHEN 'approval.granted' THEN 'granted' ELSE 'denied' END AS vote,
       v.reason,
       coalesce(a.requester, v.agent_id)                 AS requester,
       coalesce(a.server, v.server)                      AS server,
       coalesce(a.tool, v.tool)                          AS tool,
       coalesce(a.requested_args_sha256, v.args_sha256)  AS args_sha256,
       a.requested_at,
       v.occurred_at - a.requested_at                    AS since_request,
       coalesce(a.status, 'unrequested')                 AS status,
       a.executed_call_id,
       v.strand_id,
       v.seq,
       v.event_id
FROM ledger_events v
LEFT JOIN LATERAL (
  SELECT x.requester, x.server, x.tool, x.requested_args_sha256, x.requested_at, x.status, x.executed_call_id
  FROM audit_approvals x
  WHERE x.approval_id = v.approval_id
  ORDER BY x.requested_at, x.request_event_id
  LIMIT 1
) a ON true
WHERE v.event_type IN ('approval.granted', 'approval.denied');

-- How long each approval took, from its request to the event that decided it (null while
-- pending). A human decided those `granted` or `denied`; an `expired` one waited its timeout.
CREATE VIEW audit_approval_latency AS
SELECT approval_id,
       server,
       tool,
       requester,
       requested_at,
       resolution,
       approver                                                     AS decided_by,
       resolved_at,
       resolved_at - requested_at                                   AS waited,
       extract(epoch FROM resolved_at - requested_at)::double precision AS waited_seconds,
       min_approvals,
       approvers
FROM audit_approvals;

-- Per tool: how many approvals ended how, and how long people took to decide (granted or
-- denied; expired ones are counted, not timed), as percentiles in seconds.
CREATE VIEW audit_approval_latency_by_tool AS
SELECT server,
       tool,
       count(*)                                          AS requests,
       count(*) FILTER (WHERE resolution = 'granted')    AS granted,
       count(*) FILTER (WHERE resolution = 'denied')     AS denied,
       count(*) FILTER (WHERE resolution = 'expired')    AS expired,
       count(*) FILTER (WHERE resolution = 'pending')    AS pending,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY waited_seconds)
         FILTER (WHERE resolution IN ('granted', 'denied')) AS p50_seconds,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY waited_seconds)
         FILTER (WHERE resolution IN ('granted', 'denied')) AS p90_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY waited_seconds)
         FILTER (WHERE resolution IN ('granted', 'denied')) AS p99_seconds,
       max(waited_seconds) FILTER (WHERE resolution IN ('granted', 'denied')) AS max_seconds
FROM audit_approval_latency
GROUP BY server, tool;

-- Approvals must come from someone other than the requester: every grant by the agent that
-- requested the approval. The approval store refuses such a vote, so in a sound ledger this
-- view is empty; `tollgate ledger verify` reports each row as `approval_self_granted`.
CREATE VIEW audit_self_approvals AS
SELECT approval_id,
       voted_at,
       approver,
       requester,
       server,
       tool,
       args_sha256,
       reason,
       status,
       executed_call_id,
       strand_id,
       seq,
       event_id
FROM audit_approval_votes
WHERE vote = 'granted' AND approver = requester;

-- Approvals that expired: pending ones nobody decided in time, and granted ones no call used
-- in time (`granted_unused`), with the grants they had and the calls that ran on them anyway
-- (`executions`: 0 in a sound ledger).
CREATE VIEW audit_expired_approvals AS
SELECT a.approval_id,
       a.server,
       a.tool,
       a.requester,
       a.requested_at,
       a.expires_at,
       x.occurred_at                       AS expired_at,
       x.reason,
       a.min_approvals,
       cardinality(a.approvers)            AS grants,
       a.approvers,
       (a.resolution = 'granted')          AS granted_unused,
       a.executions,
       x.strand_id,
       x.seq,
       x.event_id
FROM audit_approvals a
JOIN LATERAL (
  SELECT e.occurred_at, e.reason, e.strand_id, e.seq, e.event_id
  FROM ledger_events e
  WHERE e.approval_id = a.approval_id AND e.event_type = 'approval.expired'
  ORDER BY e.occurred_at, e.event_id
  LIMIT 1
) x ON true;

-- Which call ran with which approval: one row per allowed call that names an approval, with
-- the request it used, who granted it and how the call ended. `held` says the held call itself
-- ran (hold mode); false, a repeat of it did (retry mode). `use_number` above 1 and
-- `args_match` false are findings (an approval is used once, for exactly the call requested).
CREATE VIEW audit_approval_uses AS
SELECT u.approval_id,
       u.call_id,
       u.occurred_at                                  AS used_at,
       u.agent_id,
       u.session_id,
       u.server,
       u.tool,
       u.args_sha256,
       a.call_id                                      AS requested_call_id,
       a.requested_at,
       a.resolution,
       a.approvers,
       (u.call_id = a.call_id)                        AS held,
       (u.args_sha256 = a.requested_args_sha256)      AS args_match,
       row_number() OVER (PARTITION BY u.approval_id ORDER BY u.occurred_at, u.event_id) AS use_number,
       o.outcome_status,
       o.occurred_at                                  AS completed_at,
       o.duration_ms,
       o.result_sha256,
       u.strand_id,
       u.seq,
       u.event_id
FROM ledger_events u
LEFT JOIN LATERAL (
  SELECT x.call_id, x.requested_at, x.resolution, x.approvers, x.requested_args_sha256
  FROM audit_approvals x
  WHERE x.approval_id = u.approval_id
  ORDER BY x.requested_at, x.request_event_id
  LIMIT 1
) a ON true
LEFT JOIN LATERAL (
  SELECT x.outcome_status, x.occurred_at, x.duration_ms, x.result_sha256
  FROM ledger_events x
  WHERE x.call_id = u.call_id AND x.event_type = 'outcome'
  ORDER BY x.occurred_at, x.event_id
  LIMIT 1
) o ON true
WHERE u.event_type = 'decision' AND u.effect = 'allow' AND u.approval_id IS NOT NULL;

-- Grant the new views to tollgate_auditor (see 0002_ledger_roles.sql).
SELECT ledger_apply_roles();
