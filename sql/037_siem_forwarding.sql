-- SIEM forwarding of the audit trail (issue 31, item 1; server/services/siem.py).
-- A destination belongs to one org and receives that org's chained audit events as
-- syslog messages; its cursor is the last link (seq of the org's chain) it has delivered,
-- kept here so a restart or a failover resumes where it was (at least once: the events
-- after the cursor are sent again, with the same sequence numbers).

CREATE TABLE siem_destinations (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    host            text NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
    port            integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    transport       text NOT NULL CHECK (transport IN ('tls', 'tcp', 'udp')),
    body_format     text NOT NULL CHECK (body_format IN ('json', 'cef')),
    ca_pem          text NOT NULL DEFAULT '',    -- trusted CAs; empty: the system's
    client_cert_pem text NOT NULL DEFAULT '',
    client_key      bytea,                       -- encrypted with the org's data key
    verify_key      bytea NOT NULL,              -- encrypted; the messages' MAC key
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE siem_cursors (
    destination_id uuid PRIMARY KEY REFERENCES siem_destinations (id) ON DELETE CASCADE,
    org_id         uuid NOT NULL,
    sent_seq       bigint NOT NULL DEFAULT 0,  -- delivered: links 1..sent_seq
    sent_at        timestamptz,
    last_error     text,
    last_error_at  timestamptz,
    failures       integer NOT NULL DEFAULT 0  -- consecutive failed attempts
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['siem_destinations', 'siem_cursors'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON siem_destinations, siem_cursors TO :"app_role";

-- The forwarder finds every enabled destination across orgs (siem_destinations_enabled).
CREATE POLICY siem_destinations_owner ON siem_destinations FOR SELECT TO CURRENT_USER
    USING (true);
