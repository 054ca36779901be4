-- Limit counters shared by every gateway on this database (DESIGN §8): the policy's limits
-- (rate limits and spend caps) hold across replicas because each call's counters are checked
-- and incremented in one atomic statement here.
--
-- One row per counter and window. `counter_key` is the JSON string of the policy's counter
-- key (server, counter, scope, window length, scope id); windows are fixed and aligned to the
-- UTC epoch, and `window_start`/`window_end` are epoch milliseconds. A window's row is created
-- by its first call; rows of ended windows are only history and may be deleted at any time.
--
-- This is operational state, not evidence: unlike the ledger's tables it is updated in place.

CREATE TABLE limit_counters (
  counter_key  text             NOT NULL,
  window_start bigint           NOT NULL,
  window_end   bigint           NOT NULL CHECK (window_end > window_start),
  used         double precision NOT NULL DEFAULT 0 CHECK (used >= 0),
  updated_at   timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (counter_key, window_start)
);

CREATE INDEX limit_counters_window_end ON limit_counters (window_end);

COMMENT ON TABLE limit_counters IS
  'Policy limit counters (rate limits, spend caps) shared by every gateway replica on this database.';

-- limit_acquire: the LimitStore contract in one statement. Given a call's counters (parallel
-- arrays: key, amount, max, window start and end), either every counter fits
-- (used + amount <= max, counting earlier entries of the same call on the same counter) and
-- all are incremented together, or none is. Returns the 0-based index of the first counter
-- that would exceed its max (-1 when admitted) and each counter's value: after the increment
-- when admitted, the current value when not.
--
-- Concurrency: the counters are created if missing and then locked in key order, so two
-- gateways deciding calls on the same counters serialize on them and never deadlock.
CREATE FUNCTION limit_acquire(
  p_keys    text[],
  p_amounts double precision[],
  p_maxes   double precision[],
  p_starts  bigint[],
  p_ends    bigint[]
) RETURNS TABLE (exceeded_index integer, counter_values double precision[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  n        integer := coalesce(array_length(p_keys, 1), 0);
  current  double precision[];
  result   double precision[];
  pending  double precision;
  v        double precision;
  i        integer;
  j        integer;
BEGIN
  IF n = 0 THEN
    exceeded_index := -1;
    counter_values := '{}';
    RETURN NEXT;
    RETURN;
  END IF;
  current := array_fill(0::double precision, ARRAY[n]);
  result := array_fill(0::double precision, ARRAY[n]);

  INSERT INTO limit_counters (counter_key, window_start, window_end, used)
  SELECT DISTINCT u.k, u.s, u.e, 0::double precision
  FROM unnest(p_keys, p_starts, p_ends) AS u(k, s, e)
  ORDER BY 1, 2
  ON CONFLICT (counter_key, window_start) DO NOTHING;

  PERFORM 1
  FROM limit_counters c
  WHERE (c.counter_key, c.window_start) IN (SELECT u.k, u.s FROM unnest(p_keys, p_starts) AS u(k, s))
  ORDER BY c.counter_key, c.window_start
  FOR UPDATE;

  FOR i IN 1..n LOOP
    SELECT c.used INTO v FROM limit_counters c WHERE c.counter_key = p_keys[i] AND c.window_start = p_starts[i];
    current[i] := coalesce(v, 0);
  END LOOP;

  FOR i IN 1..n LOOP
    pending := 0;
    FOR j IN 1..(i - 1) LOOP
      IF p_keys[j] = p_keys[i] AND p_starts[j] = p_starts[i] THEN
        pending := pending + p_amounts[j];
      END IF;
    END LOOP;
    IF current[i] + pending + p_amounts[i] > p_maxes[i] THEN
      result[i] := current[i] + pending;
      FOR j IN (i + 1)..n LOOP
        result[j] := current[j];
      END LOOP;
      exceeded_index := i - 1;
      counter_values := result;
      RETURN NEXT;
      RETURN;
    END IF;
    result[i] := current[i] + pending + p_amounts[i];
  END LOOP;

  FOR i IN 1..n LOOP
    UPDATE limit_counters c
       SET used = c.used + p_amounts[i], updated_at = now()
     WHERE c.counter_key = p_keys[i] AND c.window_start = p_starts[i];
  END LOOP;
  exceeded_index := -1;
  counter_values := result;
  RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION limit_acquire(text[], double precision[], double precision[], bigint[], bigint[]) IS
  'Checks and increments a call''s limit counters all-or-nothing (the gateway''s PostgreSQL LimitStore).';

-- The gateway's role keeps the counters (tollgate_writer, see 0002_ledger_roles.sql).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_writer') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON limit_counters TO tollgate_writer;
    GRANT EXECUTE ON FUNCTION limit_acquire(text[], double precision[], double precision[], bigint[], bigint[]) TO tollgate_writer;
  END IF;
END;
$$;
