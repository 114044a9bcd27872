"""Every SQL statement the backend sends. Values are always bind parameters ($n).

Trial numbers: a new trial takes the study row lock (``SELECT ... FOR UPDATE``, as RDBStorage
does, so both can write one study) in a short transaction, then inserts with the number of the
study's latest trial plus one, read in a later statement, i.e. after the lock was granted. Ids
are therefore committed in increasing order within a study, which makes incremental reads by
``trial_id > last seen`` exact.
"""

from __future__ import annotations


def _trial_rows(where: str) -> str:
    """The trials that ``where`` (a condition on ``t``) selects, and all their child rows, in
    one statement (one snapshot, one round trip) and one row shape, built by
    ``_rows.trials_from_rows``: ``(kind, trial_id, k, name, num, txt, t1, t2, sid)`` where kind
    0 is the trial (number, state, start, complete, study id), 1 a param (param_id, name, value,
    distribution),
    2 a value (objective, -, value, type), 3 an intermediate value (step, -, value, type), 4 and
    5 a user and a system attribute (attribute id, key, -, JSON). Plain rows, no JSON built by
    the server: a million trials read in a quarter of the time ``json_agg`` per trial took."""
    of = f"JOIN trials t ON t.trial_id = c.trial_id WHERE {where}"
    return f"""
SELECT 0 AS kind, t.trial_id, t.number AS k, t.state::text AS name, NULL::float8 AS num,
       NULL::text AS txt, t.datetime_start AS t1, t.datetime_complete AS t2, t.study_id AS sid
  FROM trials t WHERE {where}
UNION ALL SELECT 1, c.trial_id, c.param_id, c.param_name, c.param_value, c.distribution_json,
       NULL, NULL, NULL FROM trial_params c {of}
UNION ALL SELECT 2, c.trial_id, c.objective, NULL, c.value, c.value_type::text, NULL, NULL, NULL
  FROM trial_values c {of}
UNION ALL SELECT 3, c.trial_id, c.step, NULL, c.intermediate_value,
       c.intermediate_value_type::text, NULL, NULL, NULL FROM trial_intermediate_values c {of}
UNION ALL SELECT 4, c.trial_id, c.trial_user_attribute_id, c.key, NULL, c.value_json, NULL,
       NULL, NULL FROM trial_user_attributes c {of}
UNION ALL SELECT 5, c.trial_id, c.trial_system_attribute_id, c.key, NULL, c.value_json, NULL,
       NULL, NULL FROM trial_system_attributes c {of}
"""


TRIAL_BY_ID = _trial_rows("t.trial_id = $1")

TRIALS_BY_IDS = _trial_rows("t.trial_id = ANY($1::int[])")


# Incremental read: trials newer than the last one seen that are not known already ($4: this
# process's own and cached finished trials), plus the known unfinished ones of others ($3).
TRIALS_SINCE = _trial_rows(
    "t.study_id = $1 AND ((t.trial_id > $2 AND NOT t.trial_id = ANY($4::int[]))"
    " OR t.trial_id = ANY($3::int[]))"
)

# The enqueued-trial look-up runs before every trial and almost always finds nothing: a query
# cheap to plan and run ($2: the study's WAITING floor), then TRIALS_BY_IDS for what it found.
WAITING_IDS = """
SELECT trial_id FROM trials
 WHERE study_id = $1 AND trial_id > $2 AND state = 'WAITING'
 ORDER BY trial_id
"""

TRIAL_STATE = "SELECT state::text AS state, study_id FROM trials WHERE trial_id = $1"

LOCK_STUDY = "SELECT study_id FROM studies WHERE study_id = $1 FOR UPDATE"

# $1 study, $2 state, $3 start, $4 complete, $5 waiting floor. Returns the new trial's id and
# number, and the smallest WAITING trial id above the floor (for the enqueued-trial scan).
INSERT_TRIAL = """
INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete)
SELECT COALESCE((SELECT number + 1 FROM trials WHERE study_id = $1
                  ORDER BY trial_id DESC LIMIT 1), 0),
       $1, $2::trialstate, $3, $4
RETURNING trial_id, number,
  (SELECT min(w.trial_id) FROM trials w
    WHERE w.study_id = $1 AND w.trial_id > $5 AND w.state = 'WAITING') AS first_waiting
"""

# A session-temporary function (pg_temp: nothing is added to the database's schema) that takes
# the study row lock, numbers and inserts the trial in one round trip and one implicit
# transaction. Each statement of a VOLATILE plpgsql function takes a fresh snapshot, so the
# number is read after the lock was granted.
CREATE_TRIAL_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.osk_create_trial(
    p_study integer, p_state text, p_start timestamp, p_complete timestamp, p_floor integer,
    OUT o_trial_id integer, OUT o_number integer, OUT o_first_waiting integer)
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  PERFORM 1 FROM studies s WHERE s.study_id = p_study FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT COALESCE((SELECT t.number + 1 FROM trials t WHERE t.study_id = p_study
                    ORDER BY t.trial_id DESC LIMIT 1), 0) INTO o_number;
  SELECT min(w.trial_id) INTO o_first_waiting FROM trials w
   WHERE w.study_id = p_study AND w.trial_id > p_floor AND w.state = 'WAITING';
  INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete)
  VALUES (o_number, p_study, p_state::trialstate, p_start, p_complete)
  RETURNING trial_id INTO o_trial_id;
END
$fn$
"""

CREATE_TRIAL = "SELECT * FROM pg_temp.osk_create_trial($1, $2, $3, $4, $5)"

# After a lost connection: find the trial an unanswered CREATE_TRIAL may have committed, by its
# study, state and start time (unique per process to the microsecond).
FIND_CREATED = """
SELECT trial_id AS o_trial_id, number AS o_number FROM trials
 WHERE study_id = $1 AND state = $2::trialstate AND datetime_start = $3 AND trial_id > $4
 ORDER BY trial_id LIMIT 1
"""

TRIAL_EXISTS = "SELECT 1 FROM trials WHERE trial_id = $1"

# One statement, so one implicit transaction: update the trial if it is still updatable (or
# already in $5, the state a retried write may have reached) and upsert everything buffered.
APPLY = """
WITH t AS (
  UPDATE trials SET state = COALESCE($2::trialstate, state),
                    datetime_start = COALESCE($3, datetime_start),
                    datetime_complete = COALESCE($4, datetime_complete)
   WHERE trial_id = $1
     AND (state IN ('RUNNING', 'WAITING') OR state::text = $5::text)
  RETURNING trial_id
), p AS (
  INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json)
  SELECT t.trial_id, x.n, x.v, x.d FROM t, unnest($6::text[], $7::float8[], $8::text[]) x(n, v, d)
  ON CONFLICT (trial_id, param_name) DO UPDATE
     SET param_value = EXCLUDED.param_value, distribution_json = EXCLUDED.distribution_json
), v AS (
  INSERT INTO trial_values (trial_id, objective, value, value_type)
  SELECT t.trial_id, x.o, x.v, x.k::trialvaluetype
    FROM t, unnest($9::int[], $10::float8[], $11::text[]) x(o, v, k)
  ON CONFLICT (trial_id, objective) DO UPDATE
     SET value = EXCLUDED.value, value_type = EXCLUDED.value_type
), i AS (
  INSERT INTO trial_intermediate_values
         (trial_id, step, intermediate_value, intermediate_value_type)
  SELECT t.trial_id, x.s, x.v, x.k::trialintermediatevaluetype
    FROM t, unnest($12::int[], $13::float8[], $14::text[]) x(s, v, k)
  ON CONFLICT (trial_id, step) DO UPDATE
     SET intermediate_value = EXCLUDED.intermediate_value,
         intermediate_value_type = EXCLUDED.intermediate_value_type
), ua AS (
  INSERT INTO trial_user_attributes (trial_id, key, value_json)
  SELECT t.trial_id, x.k, x.j FROM t, unnest($15::text[], $16::text[]) x(k, j)
  ON CONFLICT (trial_id, key) DO UPDATE SET value_json = EXCLUDED.value_json
), sa AS (
  INSERT INTO trial_system_attributes (trial_id, key, value_json)
  SELECT t.trial_id, x.k, x.j FROM t, unnest($17::text[], $18::text[]) x(k, j)
  ON CONFLICT (trial_id, key) DO UPDATE SET value_json = EXCLUDED.value_json
)
SELECT count(*) FROM t
"""

CLAIM_WAITING = """
UPDATE trials SET state = 'RUNNING', datetime_start = $2
 WHERE trial_id = $1 AND state = 'WAITING'
RETURNING trial_id
"""

PREVIOUS_DISTRIBUTION = """
SELECT p.distribution_json FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id
 WHERE t.study_id = $1 AND p.param_name = $2 LIMIT 1
"""

TRIAL_ID_BY_NUMBER = "SELECT trial_id FROM trials WHERE study_id = $1 AND number = $2"

# -- studies -----------------------------------------------------------------------------------
CREATE_STUDY = """
WITH s AS (INSERT INTO studies (study_name) VALUES ($1) RETURNING study_id),
d AS (
  INSERT INTO study_directions (direction, study_id, objective)
  SELECT x.d::studydirection, s.study_id, (x.o - 1)::int
    FROM s, unnest($2::text[]) WITH ORDINALITY x(d, o)
)
SELECT study_id FROM s
"""

STUDY_ID_BY_NAME = "SELECT study_id FROM studies WHERE study_name = $1"
STUDY_NAME_BY_ID = "SELECT study_name FROM studies WHERE study_id = $1"
STUDY_DIRECTIONS = """
SELECT s.study_id, array(SELECT d.direction::text FROM study_directions d
                          WHERE d.study_id = s.study_id ORDER BY d.objective) AS directions
  FROM studies s WHERE s.study_id = $1
"""

_STUDY_ATTRS = """
SELECT s.study_id,
  (SELECT json_agg(json_build_array(a.key, a.value_json) ORDER BY a.{table}_id)::text
     FROM {table}s a WHERE a.study_id = s.study_id) AS attrs
  FROM studies s WHERE s.study_id = $1
"""
STUDY_USER_ATTRS = _STUDY_ATTRS.format(table="study_user_attribute")
STUDY_SYSTEM_ATTRS = _STUDY_ATTRS.format(table="study_system_attribute")

_SET_STUDY_ATTR = """
INSERT INTO {table} (study_id, key, value_json) VALUES ($1, $2, $3)
ON CONFLICT (study_id, key) DO UPDATE SET value_json = EXCLUDED.value_json
"""
SET_STUDY_USER_ATTR = _SET_STUDY_ATTR.format(table="study_user_attributes")
SET_STUDY_SYSTEM_ATTR = _SET_STUDY_ATTR.format(table="study_system_attributes")

ALL_STUDIES = """
SELECT s.study_id, s.study_name,
  array(SELECT d.direction::text FROM study_directions d
         WHERE d.study_id = s.study_id ORDER BY d.objective) AS directions,
  (SELECT json_agg(json_build_array(a.key, a.value_json) ORDER BY a.study_user_attribute_id)::text
     FROM study_user_attributes a WHERE a.study_id = s.study_id) AS user_attrs,
  (SELECT json_agg(json_build_array(a.key, a.value_json)
                   ORDER BY a.study_system_attribute_id)::text
     FROM study_system_attributes a WHERE a.study_id = s.study_id) AS system_attrs
  FROM studies s ORDER BY s.study_id
"""

_TRIALS_OF = "trial_id IN (SELECT trial_id FROM trials WHERE study_id = $1)"
DELETE_STUDY = (
    f"DELETE FROM trial_params WHERE {_TRIALS_OF}",
    f"DELETE FROM trial_values WHERE {_TRIALS_OF}",
    f"DELETE FROM trial_intermediate_values WHERE {_TRIALS_OF}",
    f"DELETE FROM trial_user_attributes WHERE {_TRIALS_OF}",
    f"DELETE FROM trial_system_attributes WHERE {_TRIALS_OF}",
    f"DELETE FROM trial_heartbeats WHERE {_TRIALS_OF}",
    "DELETE FROM trials WHERE study_id = $1",
    "DELETE FROM study_directions WHERE study_id = $1",
    "DELETE FROM study_user_attributes WHERE study_id = $1",
    "DELETE FROM study_system_attributes WHERE study_id = $1",
)
DELETE_STUDY_ROW = "DELETE FROM studies WHERE study_id = $1 RETURNING study_id"

# -- heartbeats --------------------------------------------------------------------------------
# LOCALTIMESTAMP is what RDBStorage's now() becomes in the timestamp column.
RECORD_HEARTBEAT = """
INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES ($1, LOCALTIMESTAMP)
ON CONFLICT (trial_id) DO UPDATE SET heartbeat = EXCLUDED.heartbeat
"""

STALE_TRIALS = """
SELECT t.trial_id FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id
 WHERE t.study_id = $1 AND t.state = 'RUNNING'
   AND LOCALTIMESTAMP - h.heartbeat > make_interval(secs => $2)
 ORDER BY t.trial_id
"""
