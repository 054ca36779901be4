-- Webhook notifications of approval requests (`approvals.notify`, docs/approvals.md): every
-- delivery of an approval event to a configured receiver, and every attempt at it, shared by
-- every gateway replica on this database — so that exactly one replica delivers a given event,
-- a delivery a stopped replica left unfinished is finished by another, and every replica's
-- admin API shows the same attempts.
--
-- This is operational state, not evidence: it is updated in place. The ledger's approval events
-- are the record of the transitions; a delivery is created only after the event it tells of is
-- committed.
--
-- A delivery is one (approval request, event, approver, receiver): `approver` is who voted for a
-- `granted` or `denied` event (each vote is told) and '' otherwise. The unique key is how a
-- replica claims a delivery: it inserts it ON CONFLICT DO NOTHING, and only the replica whose
-- insert made the row delivers it.
--
-- Life of a delivery (status):
--   pending   -> delivered  an attempt was answered 2xx
--   pending   -> failed     max_attempts attempts, none answered 2xx
--   (dropped)               never attempted: the replica's queue was full (note says so)
-- A pending delivery is being attempted while it is leased (lease_until in the future); it is
-- due for its next attempt at next_attempt_at. A replica claims an attempt by leasing it —
-- one conditional UPDATE, so two replicas never make the same attempt — and increments
-- `attempts` as it does, so attempt numbers are never reused, even when a replica stopped
-- in the middle of one.

CREATE TABLE approval_deliveries (
  id              uuid        PRIMARY KEY,
  approval_id     uuid        NOT NULL REFERENCES approval_requests (id) ON DELETE CASCADE,
  event           text        NOT NULL CHECK (event IN ('requested', 'granted', 'denied', 'expired')),
  approver        text        NOT NULL DEFAULT '',
  receiver        text        NOT NULL CHECK (receiver <> ''),
  format          text        NOT NULL CHECK (format IN ('json', 'slack')),
  payload         text        NOT NULL,
  status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
  attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts    integer     NOT NULL CHECK (max_attempts >= 1),
  created_at      timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz,
  lease_owner     text,
  lease_until     timestamptz,
  finished_at     timestamptz,
  note            text,
  CONSTRAINT approval_deliveries_once UNIQUE (approval_id, event, approver, receiver),
  CONSTRAINT approval_deliveries_approver CHECK ((event IN ('granted', 'denied')) = (approver <> '')),
  -- Only a pending delivery is waiting for an attempt; a finished one is not leased.
  CONSTRAINT approval_deliveries_pending CHECK (
    (status = 'pending') = (next_attempt_at IS NOT NULL)
    AND (status = 'pending') = (finished_at IS NULL)
    AND (status = 'pending' OR lease_until IS NULL)
    AND (lease_owner IS NULL) = (lease_until IS NULL)),
  CONSTRAINT approval_deliveries_attempts CHECK (attempts <= max_attempts AND (status <> 'dropped' OR attempts = 0))
);

COMMENT ON TABLE approval_deliveries IS
  'Webhook notifications of approval events (approvals.notify), one row per event and receiver, shared by every gateway replica.';
COMMENT ON COLUMN approval_deliveries.id IS
  'The delivery id, sent as X-Tollgate-Delivery with every attempt: receivers deduplicate by it.';
COMMENT ON COLUMN approval_deliveries.payload IS
  'The body sent (JSON), the same at every attempt; only the signature header changes.';
COMMENT ON COLUMN approval_deliveries.attempts IS
  'Attempts claimed so far (each has a row in approval_delivery_attempts once it finished).';
COMMENT ON COLUMN approval_deliveries.lease_until IS
  'While in the future, lease_owner (a gateway replica) is making an attempt; no other replica may.';

-- Due deliveries, for the replicas' sweeps.
CREATE INDEX approval_deliveries_due ON approval_deliveries (next_attempt_at) WHERE status = 'pending';

-- One row per finished attempt: when it started (the delivering replica's clock), how long it
-- took, the HTTP status it was answered with (if any) and why it failed (if it did).
CREATE TABLE approval_delivery_attempts (
  delivery_id uuid        NOT NULL REFERENCES approval_deliveries (id) ON DELETE CASCADE,
  attempt     integer     NOT NULL CHECK (attempt >= 1),
  started_at  timestamptz NOT NULL,
  duration_ms integer     NOT NULL CHECK (duration_ms >= 0),
  status_code integer     CHECK (status_code BETWEEN 100 AND 599),
  error       text,
  replica     text        NOT NULL CHECK (replica <> ''),
  PRIMARY KEY (delivery_id, attempt),
  -- An attempt was answered, or says why not; one answered 2xx has no error.
  CONSTRAINT approval_delivery_attempts_result CHECK (
    (status_code IS NOT NULL OR error IS NOT NULL)
    AND (status_code IS NULL OR status_code NOT BETWEEN 200 AND 299 OR error IS NULL))
);

COMMENT ON TABLE approval_delivery_attempts IS
  'Each attempt at a webhook delivery of an approval event: start, duration, HTTP status or error, replica.';

-- Roles (0002_ledger_roles.sql, 0012_approvals.sql): tollgate_writer also keeps the delivery
-- tables; auditors read the ledger, not this.
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
        AND c.relname IN ('limit_counters', 'approval_requests', 'approval_votes', 'approval_deliveries', 'approval_delivery_attempts')
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
