-- Users' SSH public keys (issue 30, item 2): how a user proves who they are to the SSH
-- gateway (server/gateway). A user registers keys for themselves; each has an optional
-- expiry and is revocable (deleted). Stored in the user's org (row-level security).
--
-- public_key: the key in OpenSSH one-line form, without its comment.
-- fingerprint: OpenSSH's SHA256:... form, unique per org (one key names one user there).
-- algorithm: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (RSA of 3072 bits or more).
CREATE TABLE user_ssh_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    user_id      uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    algorithm    text NOT NULL,
    bits         integer NOT NULL,
    public_key   text NOT NULL CHECK (length(public_key) <= 4096),
    fingerprint  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
    last_used_at timestamptz,
    UNIQUE (org_id, fingerprint),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX user_ssh_keys_user ON user_ssh_keys (user_id);
ALTER TABLE user_ssh_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_ssh_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY user_ssh_keys_org ON user_ssh_keys
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON user_ssh_keys TO :"app_role";
