-- Issue 27, items 3 and 5.
--
-- 2FA an org can require: each org's totp_policy (none | administrators | everyone; the
-- rule: sql/functions/totp_policy_requires.sql). An existing install keeps 'none': an
-- upgrade must not change who can log in without warning; a new install's MSPOrg gets
-- 'administrators' (server/ops/install.py).
ALTER TABLE orgs ADD COLUMN totp_policy text NOT NULL DEFAULT 'none'
    CHECK (totp_policy IN ('none', 'administrators', 'everyone'));

-- Recovery codes: ten one-time codes made at TOTP enrolment, each kept as
-- SHA-256(per-user salt || code). A code is 80 random bits, so a slow hash adds nothing
-- against guessing and the salt stops one table of hashes serving every user.
ALTER TABLE users ADD COLUMN totp_recovery_salt bytea;
CREATE TABLE totp_recovery_codes (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX totp_recovery_codes_user ON totp_recovery_codes (user_id);
ALTER TABLE totp_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE totp_recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY totp_recovery_codes_org ON totp_recovery_codes
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON totp_recovery_codes TO :"app_role";

-- A deleted client org is kept for a recovery window (security.org_recovery_days): its
-- logins are refused and every list hides it (org_reach answers no row for it), its data
-- and data key are kept, any MSPOrg administrator may restore it; it is purged when
-- purge_at passes, or earlier by an approved org_purge request.
ALTER TABLE orgs ADD COLUMN deleted_at timestamptz;
ALTER TABLE orgs ADD COLUMN deleted_by text;
ALTER TABLE orgs ADD COLUMN purge_at timestamptz;
ALTER TABLE orgs ADD CONSTRAINT orgs_deleted_state
    CHECK ((deleted_at IS NULL) = (purge_at IS NULL) AND (NOT is_msp OR deleted_at IS NULL));

ALTER TABLE org_access_requests DROP CONSTRAINT org_access_requests_kind_check;
ALTER TABLE org_access_requests ADD CONSTRAINT org_access_requests_kind_check CHECK (
    kind IN ('grant', 'account_manager', 'group_member', 'user_confirmation',
             'org_rename', 'audit_retention', 'org_purge'));
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
        AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> '')
    OR (kind = 'org_purge' AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL));
