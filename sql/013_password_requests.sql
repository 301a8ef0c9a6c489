-- Password access control (server/services/password_requests.py): sensitive accounts are
-- revealed only during an approved, time-limited check-out.

-- Who set a user's credentials (created it or set its password), then who set theirs, and
-- so on: the whole chain, kept with the user so deleting a link cannot break it
-- (server/services/dual_control.py).
ALTER TABLE users ADD COLUMN credential_chain uuid[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(credential_chain) <= 64);

-- Access control of one account, or of a resource as the default for its accounts (an
-- account's own row, enabled or not, wins over its resource's).
CREATE TABLE access_controls (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id         uuid REFERENCES accounts (id) ON DELETE CASCADE,
    resource_id        uuid REFERENCES resources (id) ON DELETE CASCADE,
    enabled            boolean NOT NULL DEFAULT true,
    approver_users     uuid[] NOT NULL DEFAULT '{}',
    approver_groups    uuid[] NOT NULL DEFAULT '{}',
    approvals_needed   integer NOT NULL DEFAULT 1 CHECK (approvals_needed BETWEEN 1 AND 5),
    max_window_minutes integer NOT NULL DEFAULT 60 CHECK (max_window_minutes BETWEEN 1 AND 10080),
    exclusive          boolean NOT NULL DEFAULT true,
    rotate_on_checkin  boolean NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(account_id, resource_id) = 1)
);
CREATE UNIQUE INDEX access_controls_account ON access_controls (account_id)
    WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX access_controls_resource ON access_controls (resource_id)
    WHERE resource_id IS NOT NULL;

CREATE TABLE password_requests (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    requester_id    uuid NOT NULL,
    requester_name  text NOT NULL,
    requester_org   text NOT NULL,
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    window_minutes  integer NOT NULL CHECK (window_minutes BETWEEN 1 AND 10080),
    status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn',
                                          'expired', 'checked_in')),
    decision_reason text NOT NULL DEFAULT '' CHECK (length(decision_reason) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    starts_at       timestamptz,
    ends_at         timestamptz,
    checked_in_at   timestamptz,
    checked_in_by   text NOT NULL DEFAULT ''
);
CREATE INDEX password_requests_account ON password_requests (account_id, status);
CREATE INDEX password_requests_org ON password_requests (org_id, status);

CREATE TABLE password_request_approvals (
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    request_id   uuid NOT NULL REFERENCES password_requests (id) ON DELETE CASCADE,
    approver_id  uuid NOT NULL,
    approver_name text NOT NULL,
    approved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, approver_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['access_controls', 'password_requests',
                             'password_request_approvals'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON access_controls, password_requests,
    password_request_approvals TO :"app_role";

-- The access state of one account for one user (in the org's RLS context): whether it is
-- under access control, and who holds it until when. THE check-out rule: under control,
-- a user may use the password only inside its own approved, open window; with exclusive
-- check-out only one window is open at a time.
CREATE FUNCTION account_access(p_account uuid, p_resource uuid, p_user uuid)
RETURNS TABLE (controlled boolean, exclusive boolean, rotate boolean, mine boolean,
               holder text, holder_org text, held_until timestamptz, request_id uuid)
LANGUAGE sql STABLE AS $$
    WITH ctl AS (
        SELECT c.enabled, c.exclusive, c.rotate_on_checkin FROM access_controls c
         WHERE c.account_id = p_account OR (c.resource_id = p_resource)
         ORDER BY (c.account_id IS NOT NULL) DESC LIMIT 1
    ), holds AS (
        SELECT q.id, q.requester_id, q.requester_name, q.requester_org, q.ends_at
          FROM password_requests q
         WHERE q.account_id = p_account AND q.status = 'approved'
           AND q.starts_at <= now() AND now() < q.ends_at
    )
    SELECT coalesce((SELECT enabled FROM ctl), false),
           coalesce((SELECT exclusive FROM ctl), false),
           coalesce((SELECT rotate_on_checkin FROM ctl), false),
           EXISTS (SELECT 1 FROM holds WHERE requester_id = p_user),
           (SELECT requester_name FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT requester_org FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT ends_at FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT id FROM holds WHERE requester_id = p_user LIMIT 1)
$$;
GRANT EXECUTE ON FUNCTION account_access(uuid, uuid, uuid) TO :"app_role";

-- The check-out rule is applied in reveal_account (sql/014, with the additional fields).

-- Open check-outs across orgs, so the sweeper finds ended windows without visiting every
-- org: ids and times only (no names, no secrets), readable by the server in any context;
-- written only in the org's own context.
CREATE TABLE open_checkouts (
    request_id uuid PRIMARY KEY REFERENCES password_requests (id) ON DELETE CASCADE,
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    ends_at    timestamptz NOT NULL
);
CREATE INDEX open_checkouts_ends ON open_checkouts (ends_at);
ALTER TABLE open_checkouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE open_checkouts FORCE ROW LEVEL SECURITY;
CREATE POLICY open_checkouts_read ON open_checkouts FOR SELECT USING (true);
CREATE POLICY open_checkouts_insert ON open_checkouts FOR INSERT
    WITH CHECK (org_id = app_org_id());
CREATE POLICY open_checkouts_delete ON open_checkouts FOR DELETE USING (org_id = app_org_id());
GRANT SELECT, INSERT, DELETE ON open_checkouts TO :"app_role";
