-- Check-out switched off by one user (issue 26, item 7): weakening or removing an access
-- control is a request of its own, approved by the control's current approvers
-- (server/services/password_requests.py). A row names its target (an account or a
-- resource), the control it would put in force, and the control it replaces as it stood
-- when filed: a decision on a control that changed since is refused.
CREATE TABLE access_control_requests (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id      uuid REFERENCES accounts (id) ON DELETE CASCADE,
    resource_id     uuid REFERENCES resources (id) ON DELETE CASCADE,
    target          text NOT NULL,
    requester_id    uuid NOT NULL,
    requester_name  text NOT NULL,
    requester_org   text NOT NULL,
    proposed        jsonb NOT NULL,
    current         jsonb NOT NULL,
    weakens         text[] NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    decision_reason text NOT NULL DEFAULT '' CHECK (length(decision_reason) <= 2000),
    approver_ids    uuid[] NOT NULL DEFAULT '{}',
    approved_by     text[] NOT NULL DEFAULT '{}',
    decided_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    CHECK (num_nonnulls(account_id, resource_id) = 1)
);
CREATE INDEX access_control_requests_org ON access_control_requests (org_id, status);
ALTER TABLE access_control_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_control_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY access_control_requests_org ON access_control_requests
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, UPDATE ON access_control_requests TO :"app_role";

-- Check-in rotation and secret additional fields (issue 26, item 11): a check-in that
-- generates a new password cannot rotate free-text secret fields, so it names the ones the
-- holder could read; they stay named in secret_fields_to_change (names only, never values)
-- until someone changes them. The app role cannot read secret_fields, so the names of the
-- fields an account holds are kept beside them (secret_field_names); an account sealed
-- before this migration is taken to hold every secret account field its org defines.
ALTER TABLE accounts ADD COLUMN secret_field_names text[] NOT NULL DEFAULT '{}';
ALTER TABLE accounts ADD COLUMN secret_fields_to_change text[] NOT NULL DEFAULT '{}';
UPDATE accounts a SET secret_field_names = array(
    SELECT d.name FROM field_definitions d
     WHERE d.org_id = a.org_id AND d.applies_to = 'account' AND d.kind = 'secret'
     ORDER BY lower(d.name))
 WHERE a.secret_fields IS NOT NULL;
GRANT SELECT (secret_field_names, secret_fields_to_change) ON accounts TO :"app_role";
