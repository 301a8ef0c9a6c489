-- Notifications by e-mail and webhook (issue 31, item 2; server/services/notifications.py).
-- The notifier reads each org's chained audit events after its cursor and the check-outs
-- about to end, and queues what to tell whom in the outbox; the sender delivers the
-- outbox with retries. Nothing here holds a secret in clear: the SMTP password and the
-- webhook secrets are encrypted with the org's data key.

-- The installation's SMTP relay (MSPOrg's row; MSPOrg's administrators set it).
CREATE TABLE notify_smtp (
    org_id     uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    host       text NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
    port       integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    security   text NOT NULL CHECK (security IN ('starttls', 'tls')),
    username   text NOT NULL DEFAULT '',
    password   bytea,
    sender     text NOT NULL CHECK (length(sender) BETWEEN 3 AND 254),
    ca_pem     text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notify_webhooks (
    id         uuid PRIMARY KEY,
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    url        text NOT NULL CHECK (url LIKE 'https://%' AND length(url) <= 2000),
    secret     bytea NOT NULL,
    ca_pem     text NOT NULL DEFAULT '',
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE notify_templates (
    org_id  uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind    text NOT NULL,
    subject text NOT NULL,
    body    text NOT NULL,
    PRIMARY KEY (org_id, kind)
);

CREATE TABLE notify_mutes (
    org_id  uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- Where the notifier is in each org's audit chain.
CREATE TABLE notify_cursors (
    org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    seq    bigint NOT NULL
);

CREATE TABLE notify_outbox (
    id         bigserial PRIMARY KEY,
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient  text NOT NULL,           -- an e-mail address, or a webhook's id
    subject    text NOT NULL,
    body       text NOT NULL,
    dedupe     text NOT NULL,           -- one message per event, recipient and channel
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts   integer NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    UNIQUE (org_id, dedupe)
);
CREATE INDEX notify_outbox_due ON notify_outbox (org_id, next_at) WHERE status = 'pending';

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notify_smtp', 'notify_webhooks', 'notify_templates',
                             'notify_mutes', 'notify_cursors', 'notify_outbox'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON notify_smtp, notify_webhooks, notify_templates,
    notify_mutes, notify_cursors, notify_outbox TO :"app_role";
GRANT USAGE ON SEQUENCE notify_outbox_id_seq TO :"app_role";

-- notify_orgs_due (sql/functions) reads these across orgs, as the owner: ids and numbers.
CREATE POLICY notify_cursors_owner ON notify_cursors FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY notify_outbox_owner ON notify_outbox FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY audit_heads_owner ON audit_heads FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY password_requests_owner ON password_requests FOR SELECT TO CURRENT_USER
    USING (true);
