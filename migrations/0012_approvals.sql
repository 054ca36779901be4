-- Approval requests (DESIGN §5): the current state of every human approval, shared by every
-- gateway replica on this database, so that a request opened on one replica can be decided
-- through another's admin API and wake the call held on a third.
--
-- This is operational state, not evidence: unlike the ledger's tables it is updated in place.
-- The ledger keeps the record of every transition (`approval.requested`, `approval.granted`,
-- `approval.denied`, `approval.expired` events), and the gateway writes each of those events
-- before it changes a row here (docs/ledger.md, "Approval requests").
--
-- A request is bound to one call: server, tool, the SHA-256 of the canonical arguments, agent,
-- policy revision and digest, and the rule that asked. A binding has at most one *current*
-- request (closed_at IS NULL): an identical call joins it instead of opening another. A request
-- stops being current when its grant is used (consumed), or when a call has been told it was
-- denied or expired (retired); the next identical call then opens a new one.
--
-- Life of a request (status):
--   pending  -> granted   minApprovals distinct approvers granted
--   pending  -> denied    one approver denied
--   pending  -> expired   expires_at passed before it was decided
--   granted  -> expired   expires_at passed before the grant was used
--   granted  -> consumed  one call used the grant (and may give it back: consumed -> granted)

CREATE TABLE approval_requests (
  id               uuid        PRIMARY KEY,
  server           text        NOT NULL CHECK (server <> ''),
  tool             text        NOT NULL CHECK (tool <> ''),
  args_sha256      text        NOT NULL CHECK (args_sha256 ~ '^[0-9a-f]{64}$'),
  agent_id         text        NOT NULL CHECK (agent_id <> ''),
  policy_revision  text,
  policy_digest    text        NOT NULL CHECK (policy_digest ~ '^[0-9a-f]{64}$'),
  rule             text        NOT NULL CHECK (rule <> ''),
  session_id       text,
  call_id          text        NOT NULL CHECK (call_id <> ''),
  args             jsonb       NOT NULL,
  reason           text        NOT NULL,
  approvers        text[]      CHECK (cardinality(approvers) > 0),
  min_approvals    integer     NOT NULL CHECK (min_approvals >= 1),
  requested_at     timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'granted', 'denied', 'expired', 'consumed')),
  recorded         boolean     NOT NULL DEFAULT false,
  decided_at       timestamptz,
  consumed_at      timestamptz,
  consumed_by_call text,
  closed_at        timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT approval_requests_expiry CHECK (expires_at > requested_at),
  -- Only a pending request is undecided.
  CONSTRAINT approval_requests_decided CHECK ((status = 'pending') = (decided_at IS NULL)),
  -- Only a consumed request has used its grant, and it is no longer current.
  CONSTRAINT approval_requests_consumed CHECK (
    (status = 'consumed') = (consumed_at IS NOT NULL)
    AND (consumed_at IS NULL) = (consumed_by_call IS NULL)
    AND (status <> 'consumed' OR closed_at IS NOT NULL)),
  -- A request waiting for votes or for its call stays current; a pending one is closed only
  -- when it was abandoned before its approval.requested event was recorded.
  CONSTRAINT approval_requests_closed CHECK (
    closed_at IS NULL
    OR status IN ('consumed', 'denied', 'expired')
    OR (status = 'pending' AND NOT recorded))
);

COMMENT ON TABLE approval_requests IS
  'Current state of human approval requests, shared by every gateway replica; the ledger events are the record.';
COMMENT ON COLUMN approval_requests.args IS
  'The arguments as approvers may see them: redacted as in the ledger.';
COMMENT ON COLUMN approval_requests.args_sha256 IS
  'SHA-256 of the RFC 8785 canonical JSON of the full, unredacted arguments (part of the binding).';
COMMENT ON COLUMN approval_requests.approvers IS
  'Approver ids or groups allowed to decide; null means any configured approver.';
COMMENT ON COLUMN approval_requests.recorded IS
  'Whether the approval.requested ledger event is committed; only then may the request be decided.';
COMMENT ON COLUMN approval_requests.closed_at IS
  'When the request stopped being the current one of its binding; null while current.';
COMMENT ON COLUMN approval_requests.updated_at IS
  'When the row last changed (database clock); lets a replica that lost its LISTEN session catch up.';

-- At most one current request per binding. policy_revision may be null: the pair of
-- expressions keeps null and '' apart while making two nulls equal.
CREATE UNIQUE INDEX approval_requests_current_binding ON approval_requests
  (server, tool, args_sha256, agent_id, policy_digest, rule, coalesce(policy_revision, ''), (policy_revision IS NULL))
  WHERE closed_at IS NULL;

-- Listing by status, newest first; the expiry sweep; catching up after a lost LISTEN session.
CREATE INDEX approval_requests_status_time ON approval_requests (status, requested_at DESC, id);
CREATE INDEX approval_requests_time ON approval_requests (requested_at DESC, id);
CREATE INDEX approval_requests_expiry_due ON approval_requests (expires_at) WHERE status IN ('pending', 'granted');
CREATE INDEX approval_requests_updated ON approval_requests (updated_at);

-- One row per approver's vote on a request: one vote per approver (the primary key), in the
-- order they were cast (position, from 1).
CREATE TABLE approval_votes (
  request_id uuid        NOT NULL REFERENCES approval_requests (id) ON DELETE CASCADE,
  approver   text        NOT NULL CHECK (approver <> ''),
  position   integer     NOT NULL CHECK (position >= 1),
  decision   text        NOT NULL CHECK (decision IN ('grant', 'deny')),
  reason     text,
  voted_at   timestamptz NOT NULL,
  PRIMARY KEY (request_id, approver),
  CONSTRAINT approval_votes_position UNIQUE (request_id, position)
);

COMMENT ON TABLE approval_votes IS
  'Each approver''s grant or deny of an approval request; a vote is only ever added with its request''s row locked.';

-- Every change of a request wakes whoever listens on the channel `tollgate_approvals`, on every
-- replica: the payload is the request's id. A notification is delivered when the transaction
-- commits — after the ledger event of the transition, which the gateway writes first — and
-- not at all when it rolls back.
CREATE FUNCTION approval_requests_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE FUNCTION approval_requests_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tollgate_approvals', NEW.id::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER approval_requests_touch
  BEFORE UPDATE ON approval_requests
  FOR EACH ROW EXECUTE FUNCTION approval_requests_touch();

CREATE TRIGGER approval_requests_notify
  AFTER INSERT OR UPDATE ON approval_requests
  FOR EACH ROW EXECUTE FUNCTION approval_requests_notify();

COMMENT ON FUNCTION approval_requests_notify() IS
  'NOTIFY tollgate_approvals with the id of an approval request that was opened or changed.';

-- Roles (0002_ledger_roles.sql): ledger_apply_roles() now also grants tollgate_writer the
-- operational state the gateway keeps — the limit counters (0010) and the approval tables —
-- so that a writer role a DBA creates after this migration is granted them by the next
-- `tollgate ledger migrate`, as it is the ledger tables. Auditors read the ledger, not this.
CREATE OR REPLACE FUNCTION ledger_apply_roles() RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  may_create_roles boolean;
  granted text[] := '{}';
  rel record;
BEGIN
  SELECT rolsuper OR rolcreaterole INTO may_create_roles FROM pg_roles WHERE rolname = current_user;

  IF coalesce(may_create_roles, false) THEN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_writer') THEN
      BEGIN
        CREATE ROLE tollgate_writer NOLOGIN;
      -- Another database of the same cluster may be migrating at the same moment.
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_auditor') THEN
      BEGIN
        CREATE ROLE tollgate_auditor NOLOGIN;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
  END IF;

  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_writer') THEN
    FOR rel IN
      SELECT c.relname FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace
        AND c.relkind = 'r'
        AND c.relname IN ('ledger_events', 'ledger_strands', 'ledger_checkpoints', 'ledger_verifications')
    LOOP
      EXECUTE format('GRANT SELECT, INSERT ON %I TO tollgate_writer', rel.relname);
    END LOOP;
    -- Operational state, updated in place (never the ledger's tables above).
    FOR rel IN
      SELECT c.relname FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace
        AND c.relkind = 'r'
        AND c.relname IN ('limit_counters', 'approval_requests', 'approval_votes')
    LOOP
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO tollgate_writer', rel.relname);
    END LOOP;
    IF to_regprocedure('limit_acquire(text[],double precision[],double precision[],bigint[],bigint[])') IS NOT NULL THEN
      GRANT EXECUTE ON FUNCTION limit_acquire(text[], double precision[], double precision[], bigint[], bigint[]) TO tollgate_writer;
    END IF;
    granted := granted || 'tollgate_writer'::text;
  END IF;

  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_auditor') THEN
    FOR rel IN
      SELECT c.relname FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace
        AND c.relkind IN ('r', 'v')
        AND (c.relname LIKE 'ledger\_%' OR c.relname LIKE 'audit\_%')
    LOOP
      EXECUTE format('GRANT SELECT ON %I TO tollgate_auditor', rel.relname);
    END LOOP;
    granted := granted || 'tollgate_auditor'::text;
  END IF;

  RETURN granted;
END;
$$;

SELECT ledger_apply_roles();
