-- Split-knowledge activation (issue 27, item 1; server/services/dual_control.py).
--
-- An MSPOrg administrator account made after the founding phase belongs to its maker's
-- person. A second administrator, independent of the maker, can activate it: a one-time
-- activation code (stored here only as its SHA-256) that the first login needs together
-- with the temporary password the maker set. When that login's session sets the user's own
-- password, the account becomes its own person (principal NULL, credential_chain empty).
--
-- password_binding: SHA-256 of the password hash the code pairs with; a new password set
--   by anyone voids the activation (the code no longer pairs with it).
-- activator_id NULL: issued on the server's console (strongroom recover-person).
-- session_id: the session that logged in with the code (only it completes the activation).
CREATE TABLE user_activations (
    user_id          uuid PRIMARY KEY,
    org_id           uuid NOT NULL,
    code_hash        bytea NOT NULL,
    password_binding text NOT NULL,
    activator_id     uuid,
    activator_name   text NOT NULL,
    issued_at        timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    session_id       uuid,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
ALTER TABLE user_activations ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_activations FORCE ROW LEVEL SECURITY;
CREATE POLICY user_activations_org ON user_activations
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON user_activations TO :"app_role";

-- A person recovered on the server's console (strongroom recover-person): every MSPOrg
-- administrator is told at its next logins for a week (GET /me's notices).
CREATE TABLE person_recoveries (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    username     text NOT NULL,
    recovered_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE person_recoveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE person_recoveries FORCE ROW LEVEL SECURITY;
CREATE POLICY person_recoveries_org ON person_recoveries
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT ON person_recoveries TO :"app_role";
