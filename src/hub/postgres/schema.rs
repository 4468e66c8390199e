//! The hub's tables and functions in PostgreSQL, named after the hub's prefix, created
//! idempotently (under an advisory lock, so instances starting together all succeed).

use std::time::Duration;

use crate::hub::History;

/// The SQL of one prefix's schema and statements.
#[derive(Clone, Debug)]
pub(super) struct Sql {
    prefix: String,
}

impl Sql {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// Creates what is missing and sets the bounds, in one transaction holding an
    /// advisory lock of the prefix's.
    pub(super) fn setup(&self, history: History) -> String {
        let p = &self.prefix;
        let events = i64::try_from(history.event_limit().max(1)).unwrap_or(i64::MAX);
        let age = history.age_limit().map_or_else(
            || "NULL".to_owned(),
            |age: Duration| format!("interval '{} milliseconds'", age.as_millis().max(1)),
        );
        format!(
            r"BEGIN;
SELECT pg_advisory_xact_lock(hashtext('tower-sse schema {p}'));
CREATE TABLE IF NOT EXISTS {p}meta (
  id int PRIMARY KEY CHECK (id = 1),
  max_events bigint NOT NULL,
  max_age interval,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {p}topics (
  topic text PRIMARY KEY,
  last_seq bigint NOT NULL,
  last_mark bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}events (
  topic text NOT NULL,
  seq bigint NOT NULL,
  mark bigint NOT NULL,
  prev_seq bigint NOT NULL,
  prev_mark bigint NOT NULL,
  fields bytea NOT NULL,
  token text,
  at timestamptz NOT NULL,
  PRIMARY KEY (topic, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS {p}events_token ON {p}events (topic, token)
  WHERE token IS NOT NULL;
INSERT INTO {p}meta (id, max_events, max_age) VALUES (1, {events}, {age})
  ON CONFLICT (id) DO UPDATE SET max_events = EXCLUDED.max_events, max_age = EXCLUDED.max_age;
{functions}
COMMIT;",
            functions = self.functions()
        )
    }

    fn functions(&self) -> String {
        let p = &self.prefix;
        format!(
            r"CREATE OR REPLACE FUNCTION {p}channel(topic text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$ SELECT '{p}' || md5(topic) $fn$;
CREATE OR REPLACE FUNCTION {p}listen(topic text) RETURNS void
LANGUAGE plpgsql AS $fn$ BEGIN EXECUTE format('LISTEN %I', {p}channel(topic)); END $fn$;
CREATE OR REPLACE FUNCTION {p}unlisten(topic text) RETURNS void
LANGUAGE plpgsql AS $fn$ BEGIN EXECUTE format('UNLISTEN %I', {p}channel(topic)); END $fn$;
{append}
{publish}",
            append = self.append_function(),
            publish = self.publish_function(),
        )
    }

    /// `<prefix>append(topic, fields, token)`: the one way events are stored. Locks the
    /// topic's row (publishers of a topic commit in their order), finds a token stored
    /// already, appends after the topic's last event, notifies, and trims a bounded
    /// number of events past the count and age bounds. A topic is at most 1,024 bytes
    /// as stored: the hub's 256, escaped (see `ids::stored_topic`).
    fn append_function(&self) -> String {
        let p = &self.prefix;
        format!(
            r"CREATE OR REPLACE FUNCTION {p}append(p_topic text, p_fields bytea, p_token text,
  OUT o_seq bigint, OUT o_mark bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
  v_seq bigint; v_mark bigint; v_max bigint; v_age interval;
BEGIN
  IF p_topic IS NULL OR octet_length(p_topic) NOT BETWEEN 1 AND 1024 THEN
    RAISE EXCEPTION 'tower-sse: a topic is 1 to 1024 bytes' USING ERRCODE = '22023';
  END IF;
  SELECT t.last_seq, t.last_mark INTO v_seq, v_mark FROM {p}topics t
    WHERE t.topic = p_topic FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO {p}topics (topic, last_seq, last_mark) VALUES (p_topic, 0, 0)
      ON CONFLICT (topic) DO NOTHING;
    SELECT t.last_seq, t.last_mark INTO v_seq, v_mark FROM {p}topics t
      WHERE t.topic = p_topic FOR UPDATE;
  END IF;
  IF p_token IS NOT NULL THEN
    SELECT e.seq, e.mark INTO o_seq, o_mark FROM {p}events e
      WHERE e.topic = p_topic AND e.token = p_token;
    IF FOUND THEN RETURN; END IF;
  END IF;
  o_seq := v_seq + 1;
  o_mark := 1 + floor(random() * 1099511627775)::bigint;
  INSERT INTO {p}events (topic, seq, mark, prev_seq, prev_mark, fields, token, at)
    VALUES (p_topic, o_seq, o_mark, v_seq, v_mark, p_fields, p_token, clock_timestamp());
  UPDATE {p}topics SET last_seq = o_seq, last_mark = o_mark WHERE topic = p_topic;
  PERFORM pg_notify({p}channel(p_topic), o_seq || ':' || o_mark || ':' || p_topic);
  SELECT m.max_events, m.max_age INTO v_max, v_age FROM {p}meta m WHERE m.id = 1;
  DELETE FROM {p}events d WHERE d.topic = p_topic AND d.seq IN (
    SELECT e.seq FROM {p}events e WHERE e.topic = p_topic AND e.seq <= o_seq - v_max
    ORDER BY e.seq LIMIT 64);
  IF v_age IS NOT NULL THEN
    DELETE FROM {p}events d WHERE d.topic = p_topic AND d.seq IN (
      SELECT o.seq FROM (SELECT e.seq, e.at FROM {p}events e WHERE e.topic = p_topic
        ORDER BY e.seq LIMIT 16) o
      WHERE o.at < clock_timestamp() - v_age);
  END IF;
END
$fn$;"
        )
    }

    /// `<prefix>publish(topic, data, event)`: the function users call, in their own
    /// transactions. Writes the fields as `Event::event` and `Event::data` do and
    /// returns the event's id.
    fn publish_function(&self) -> String {
        let p = &self.prefix;
        format!(
            r"CREATE OR REPLACE FUNCTION {p}publish(topic text, data text, event text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
  v_fields text := '';
  v_stored record;
BEGIN
  IF event IS NOT NULL THEN
    IF position(E'\r' IN event) > 0 OR position(E'\n' IN event) > 0 THEN
      RAISE EXCEPTION 'tower-sse: an event type has no line break' USING ERRCODE = '22023';
    END IF;
    v_fields := 'event: ' || event || E'\n';
  END IF;
  v_fields := v_fields || (
    SELECT string_agg('data: ' || l.line || E'\n', '' ORDER BY l.n)
    FROM regexp_split_to_table(coalesce(data, ''), E'\r\n|\r|\n') WITH ORDINALITY AS l(line, n));
  SELECT * INTO v_stored FROM {p}append(topic, convert_to(v_fields, 'UTF8'), NULL);
  RETURN v_stored.o_seq || '-' || to_hex(v_stored.o_mark);
END
$fn$;"
        )
    }

    pub(super) fn append(&self) -> String {
        format!(
            "SELECT o_seq, o_mark FROM {}append($1, $2, $3)",
            self.prefix
        )
    }

    pub(super) fn head(&self) -> String {
        format!(
            "SELECT last_seq, last_mark FROM {}topics WHERE topic = $1",
            self.prefix
        )
    }

    pub(super) fn find(&self) -> String {
        format!(
            "SELECT seq, mark FROM {}events WHERE topic = $1 AND token = $2",
            self.prefix
        )
    }

    /// The topic's head and up to `$3` events after sequence `$2`, younger than the age
    /// bound, in one statement (one snapshot).
    pub(super) fn read(&self) -> String {
        let p = &self.prefix;
        format!(
            r"SELECT t.last_seq, t.last_mark, e.seq, e.mark, e.prev_seq, e.prev_mark, e.fields
FROM {p}topics t
LEFT JOIN LATERAL (
  SELECT x.seq, x.mark, x.prev_seq, x.prev_mark, x.fields FROM {p}events x, {p}meta m
  WHERE m.id = 1 AND x.topic = t.topic AND x.seq > $2
    AND (m.max_age IS NULL OR x.at >= clock_timestamp() - m.max_age)
  ORDER BY x.seq LIMIT $3) e ON true
WHERE t.topic = $1
ORDER BY e.seq"
        )
    }

    pub(super) fn listen(&self) -> String {
        format!("SELECT {}listen($1)", self.prefix)
    }

    pub(super) fn unlisten(&self) -> String {
        format!("SELECT {}unlisten($1)", self.prefix)
    }
}
