-- The audit ledger (DESIGN §7): one append-only, hash-chained events table, the strands
-- (writer processes) that wrote it, signed checkpoints of the strands' heads and the
-- results of `tollgate ledger verify --record`.
--
-- Every event belongs to one strand (one writer process) and carries its place in it
-- (`seq`, from 1, no gaps) and the chain link:
--   hash = SHA-256(prev_hash || canonical(event))
-- where canonical(event) is the RFC 8785 JSON of every column except prev_hash and hash
-- (docs/ledger.md gives the exact recipe). The first event of a strand has a prev_hash of
-- 64 zeros.

CREATE TABLE ledger_strands (
  strand_id   uuid        PRIMARY KEY,
  started_at  timestamptz NOT NULL,
  host        text        NOT NULL,
  pid         integer     NOT NULL,
  label       text
);

COMMENT ON TABLE ledger_strands IS
  'One row per ledger writer (gateway process); written with the strand''s first event.';

CREATE TABLE ledger_events (
  event_id        uuid             PRIMARY KEY,
  occurred_at     timestamptz      NOT NULL,
  strand_id       uuid             NOT NULL,
  seq             bigint           NOT NULL CHECK (seq >= 1),
  prev_hash       text             NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash            text             NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  event_type      text             NOT NULL CHECK (event_type IN (
                    'decision', 'outcome',
                    'approval.requested', 'approval.granted', 'approval.denied', 'approval.expired',
                    'policy.activated', 'policy.rejected')),
  call_id         text,
  agent_id        text,
  session_id      text,
  server          text,
  tool            text,
  args            jsonb,
  args_sha256     text             CHECK (args_sha256 ~ '^[0-9a-f]{64}$'),
  effect          text             CHECK (effect IN ('allow', 'deny', 'approval_required', 'hidden')),
  rule            text,
  reason          text,
  policy_revision text,
  policy_digest   text,
  approval_id     text,
  approver        text,
  outcome_status  text             CHECK (outcome_status IN ('ok', 'error', 'timeout', 'cancelled')),
  duration_ms     double precision CHECK (duration_ms >= 0),
  result_sha256   text             CHECK (result_sha256 ~ '^[0-9a-f]{64}$'),
  detail          jsonb,
  CONSTRAINT ledger_events_strand_seq UNIQUE (strand_id, seq)
);

COMMENT ON TABLE ledger_events IS
  'Append-only, hash-chained record of every decision and outcome of the Tollgate gateway.';
COMMENT ON COLUMN ledger_events.args IS
  'Call arguments with configured JSON pointers replaced by "[REDACTED]".';
COMMENT ON COLUMN ledger_events.args_sha256 IS
  'SHA-256 of the RFC 8785 canonical JSON of the full, unredacted arguments.';

-- Indexes for the audit queries (docs/audit.md). The time index also orders exports.
CREATE INDEX ledger_events_time     ON ledger_events (occurred_at, event_id);
CREATE INDEX ledger_events_call     ON ledger_events (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX ledger_events_agent    ON ledger_events (agent_id, occurred_at);
CREATE INDEX ledger_events_tool     ON ledger_events (server, tool, occurred_at);
CREATE INDEX ledger_events_session  ON ledger_events (session_id, occurred_at) WHERE session_id IS NOT NULL;
CREATE INDEX ledger_events_effect   ON ledger_events (effect, rule) WHERE effect IS NOT NULL;
CREATE INDEX ledger_events_revision ON ledger_events (policy_revision) WHERE policy_revision IS NOT NULL;
CREATE INDEX ledger_events_approval ON ledger_events (approval_id) WHERE approval_id IS NOT NULL;
CREATE INDEX ledger_events_approver ON ledger_events (approver) WHERE approver IS NOT NULL;

CREATE TABLE ledger_checkpoints (
  checkpoint_id uuid        PRIMARY KEY,
  created_at    timestamptz NOT NULL,
  key_id        text        NOT NULL CHECK (key_id ~ '^[0-9a-f]{64}$'),
  public_key    text        NOT NULL,
  heads         jsonb       NOT NULL,
  signature     text        NOT NULL
);

COMMENT ON TABLE ledger_checkpoints IS
  'Ed25519-signed heads of every strand (tollgate ledger checkpoint); copies belong outside the database too.';

CREATE TABLE ledger_verifications (
  verification_id  uuid        PRIMARY KEY,
  verified_at      timestamptz NOT NULL,
  ok               boolean     NOT NULL,
  strands          integer     NOT NULL,
  events           bigint      NOT NULL,
  checkpoints      integer     NOT NULL,
  problems         integer     NOT NULL,
  missing_outcomes integer     NOT NULL,
  first_problem    jsonb,
  report           jsonb       NOT NULL
);

COMMENT ON TABLE ledger_verifications IS
  'Results of tollgate ledger verify --record: the integrity evidence auditors ask for.';

-- Append-only: rows may be inserted, never changed or removed. The function raises for any
-- row-level UPDATE or DELETE and for TRUNCATE; only a superuser who disables the triggers can
-- get around it, and `tollgate ledger verify` detects what they did.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tollgate ledger: % on % is refused: the ledger is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Ledger rows can only be inserted. Record a correction as a new event instead.';
END;
$$;

CREATE TRIGGER ledger_events_no_change BEFORE UPDATE OR DELETE ON ledger_events
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_strands_no_change BEFORE UPDATE OR DELETE ON ledger_strands
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_strands_no_truncate BEFORE TRUNCATE ON ledger_strands
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_checkpoints_no_change BEFORE UPDATE OR DELETE ON ledger_checkpoints
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_verifications_no_change BEFORE UPDATE OR DELETE ON ledger_verifications
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_verifications_no_truncate BEFORE TRUNCATE ON ledger_verifications
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
