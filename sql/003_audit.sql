-- The audit trail. An event row is written in the same transaction as the operation
-- (fail closed). Chaining happens just after commit: a chainer takes committed events
-- from audit_pending, in order, and appends one link per event to the org's single
-- hash chain (audit_links), keyed with an HMAC key only the server holds. Events and
-- links are insert-only for the app role, so the chain's order never changes once made
-- and writers never queue on one lock while their commits reach the disk.

CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    org_id      uuid NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    actor_org   text NOT NULL,
    ip          text NOT NULL DEFAULT '',
    operation   text NOT NULL CHECK (operation ~ '^[a-z][a-z0-9_]*$'),
    target_type text NOT NULL DEFAULT '',
    target      text NOT NULL DEFAULT '',
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason      text,
    details     jsonb NOT NULL DEFAULT '{}',
    node        text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_org ON audit_events (org_id, id DESC);
CREATE INDEX audit_events_org_operation ON audit_events (org_id, operation, id DESC);

-- Committed events not yet chained (a queue: the chainer deletes what it links).
CREATE TABLE audit_pending (
    event_id bigint PRIMARY KEY REFERENCES audit_events (id),
    org_id   uuid NOT NULL
);
CREATE INDEX audit_pending_org ON audit_pending (org_id, event_id);

-- The chain: link seq of an org covers one event and the previous link's MAC.
CREATE TABLE audit_links (
    org_id    uuid NOT NULL,
    seq       bigint NOT NULL CHECK (seq > 0),
    event_id  bigint NOT NULL UNIQUE REFERENCES audit_events (id),
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL,
    PRIMARY KEY (org_id, seq)
);

-- The head of each org's chain; the chainer locks it while appending.
CREATE TABLE audit_heads (
    org_id uuid PRIMARY KEY,
    seq    bigint NOT NULL,
    hash   bytea NOT NULL
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_events', 'audit_pending', 'audit_links', 'audit_heads'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT ON audit_events, audit_links TO :"app_role";
GRANT SELECT, INSERT, DELETE ON audit_pending TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON audit_heads TO :"app_role";
GRANT USAGE ON SEQUENCE audit_events_id_seq TO :"app_role";

-- The owner (and so the SECURITY DEFINER function below) may see the whole queue: it
-- holds only event ids, and the chainer must find every org with events waiting.
CREATE POLICY audit_pending_owner ON audit_pending FOR SELECT TO CURRENT_USER USING (true);

-- Orgs whose chain has events waiting (read across orgs by the chainer only).
CREATE FUNCTION audit_orgs_pending() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT org_id FROM audit_pending
$$;
REVOKE ALL ON FUNCTION audit_orgs_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_orgs_pending() TO :"app_role";
