-- Roles (DESIGN §7): the gateway writes as `tollgate_writer` (INSERT and SELECT, never UPDATE,
-- DELETE or TRUNCATE); auditors read as `tollgate_auditor` (SELECT only). Both are NOLOGIN
-- group roles: grant them to the login roles you create, e.g.
--   CREATE ROLE gateway LOGIN PASSWORD '…' IN ROLE tollgate_writer;
--
-- Roles belong to the whole PostgreSQL cluster. They are created only when the connecting
-- user may create roles (a superuser or CREATEROLE); otherwise a DBA creates them. Grants are
-- made whenever the roles exist: `tollgate ledger migrate` calls ledger_apply_roles() on every
-- run, so roles a DBA creates later are granted by the next migrate.

CREATE FUNCTION ledger_apply_roles() RETURNS text[]
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

COMMENT ON FUNCTION ledger_apply_roles() IS
  'Creates tollgate_writer and tollgate_auditor where allowed and grants them; idempotent.';

SELECT ledger_apply_roles();
