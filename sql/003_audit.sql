-- The audit trail: one HMAC hash chain per org. The app role may only append and
-- read; it can neither update nor delete an event.

CREATE TABLE audit_events (
    org_id      uuid NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
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
    node        text NOT NULL DEFAULT '',
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_events_org_at ON audit_events (org_id, at DESC);
CREATE INDEX audit_events_org_operation ON audit_events (org_id, operation, seq DESC);

-- The head of each org's chain; the row lock serialises appends within one org.
CREATE TABLE audit_heads (
    org_id uuid PRIMARY KEY,
    seq    bigint NOT NULL,
    hash   bytea NOT NULL
);

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_org ON audit_events USING (org_id = app_org_id())
    WITH CHECK (org_id = app_org_id());
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_heads_org ON audit_heads USING (org_id = app_org_id())
    WITH CHECK (org_id = app_org_id());

GRANT SELECT, INSERT ON audit_events TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON audit_heads TO :"app_role";
