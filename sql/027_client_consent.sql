-- Issue 26, items 6 and 8: a client's history outlives the client org, and shortening it
-- needs the client's consent or a second MSP administrator.

-- A deleted org's audit trail stays readable and verifiable by MSPOrg auditors until its
-- retention ends (server/services/audit_trail.py). Its events, links and chain head never
-- had a foreign key to orgs; its retention and purge checkpoint now lose theirs too, so
-- they outlive the org row and the hourly purge goes on applying them.
ALTER TABLE audit_retention DROP CONSTRAINT audit_retention_org_id_fkey;
ALTER TABLE audit_checkpoints DROP CONSTRAINT audit_checkpoints_org_id_fkey;

-- The tombstone of a deleted org: who may look its trail up by which name. Kept in
-- MSPOrg's tenancy (org_id = MSPOrg), like org access requests; written once, in the
-- transaction that deletes the org, and never changed.
CREATE TABLE deleted_orgs (
    org_id         uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    deleted_org_id uuid PRIMARY KEY,
    display_name   text NOT NULL,
    name           text NOT NULL,
    deleted_at     timestamptz NOT NULL DEFAULT now(),
    deleted_by     text NOT NULL
);
CREATE INDEX deleted_orgs_name ON deleted_orgs (lower(display_name));
ALTER TABLE deleted_orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE deleted_orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY deleted_orgs_org ON deleted_orgs USING (org_id = app_org_id())
    WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT ON deleted_orgs TO :"app_role";

-- A new kind of org access request (026's org_rename kept): shortening a client org's
-- audit retention, or purging
-- its trail now, in an org that has no confirmed administrator of its own (the change is
-- kept in subject as JSON: {"retention_days"?, "purge"}).
ALTER TABLE org_access_requests DROP CONSTRAINT org_access_requests_kind_check;
ALTER TABLE org_access_requests ADD CONSTRAINT org_access_requests_kind_check CHECK (
    kind IN ('grant', 'account_manager', 'group_member', 'user_confirmation',
             'org_rename', 'audit_retention'));
ALTER TABLE org_access_requests DROP CONSTRAINT org_access_requests_designee;
ALTER TABLE org_access_requests ADD CONSTRAINT org_access_requests_designee CHECK (
    (kind = 'grant' AND client_org_id IS NOT NULL
        AND num_nonnulls(designee_user_id, designee_group_id) = 1)
    OR (kind = 'account_manager' AND client_org_id IS NOT NULL
        AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
    OR (kind = 'group_member' AND target_group_id IS NOT NULL
        AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
    OR (kind IN ('user_confirmation', 'org_rename') AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> '')
    OR (kind = 'audit_retention' AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> ''));
