"""The PostgreSQL schema, as numbered migrations applied in order at start-up.

A migration, once released, is never edited: a change is a new migration with the next number.
`schema_migrations` records which have run, so every node of a cluster sees the same schema, and
a node older than its database refuses to start instead of writing rows it does not understand.
"""

from __future__ import annotations

from dataclasses import dataclass

# Any constant will do; two nodes starting at once take it in turn, so one migrates and the other waits.
MIGRATION_LOCK = 0x63657265  # "cere"
CHANNEL = "ceremony_store"  # NOTIFY channel: every commit that changes the log, tokens or sessions


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


INITIAL = f"""
CREATE TABLE events (
    ceremony  text   NOT NULL,
    seq       bigint NOT NULL CHECK (seq > 0),
    body      bytea  NOT NULL,
    prev_hash bytea  NOT NULL,
    hash      bytea  NOT NULL,
    PRIMARY KEY (ceremony, seq)
);
-- The log is append-only: these make an UPDATE, DELETE or TRUNCATE fail loudly. (An owner who
-- drops them can still tamper, which is what the hash chain and `ceremony log verify` are for.)
CREATE FUNCTION ceremony_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION ceremony_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION ceremony_append_only();

CREATE TABLE ceremony_order (
    ceremony text   PRIMARY KEY,
    created  bigint GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE operator_tokens (
    token_sha256 text        PRIMARY KEY,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
-- Browser sessions (store.Session): not events, no part of the record.
CREATE TABLE sessions (
    id_sha256             text        PRIMARY KEY,
    ceremony              text,
    invitation            text,
    operator_token_sha256 text,
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    revoked_at            timestamptz,
    CHECK ((invitation IS NULL) != (operator_token_sha256 IS NULL))
);
-- The MOU's revisions, by content: a row is never changed, so the same no-change rule holds.
CREATE TABLE documents (
    sha256 text  PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
    data   bytea NOT NULL
);
CREATE TRIGGER documents_no_change BEFORE UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION ceremony_append_only();
-- Sealed records (zip), one per ceremony; the seal writes it before the event that names it.
CREATE TABLE records (
    ceremony   text        PRIMARY KEY,
    data       bytea       NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);

-- Other nodes learn of a commit at once (LISTEN) instead of by polling every table.
CREATE FUNCTION ceremony_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER events_changed AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION ceremony_changed();
CREATE TRIGGER tokens_changed AFTER INSERT OR UPDATE ON operator_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION ceremony_changed();
CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION ceremony_changed();
"""

MIGRATIONS: tuple[Migration, ...] = (Migration(1, "the log, operator links, sessions, documents and records", INITIAL),)
