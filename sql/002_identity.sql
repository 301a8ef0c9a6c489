-- Identity: org data keys, system keys, users, user groups, sessions, API keys.
-- Every tenant table carries org_id and is keyed on app_org_id() by forced RLS.

-- Keys of the system itself (e.g. the audit MAC key), wrapped by the master key.
CREATE TABLE system_keys (
    purpose    text NOT NULL,
    version    integer NOT NULL CHECK (version > 0),
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purpose, version)
);
ALTER TABLE system_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE system_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY system_keys_all ON system_keys USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON system_keys TO :"app_role";

-- Each org's data keys, wrapped by the master key (kek_id names which one).
CREATE TABLE org_keys (
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version > 0),
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, version)
);
CREATE UNIQUE INDEX org_keys_one_active ON org_keys (org_id) WHERE active;

CREATE TABLE users (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id               uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    username             text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    full_name            text NOT NULL DEFAULT '' CHECK (length(full_name) <= 200),
    email                text NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    role                 text NOT NULL CHECK (role IN ('privileged_administrator', 'administrator',
                             'password_administrator', 'password_auditor', 'password_user')),
    access_scope         text NOT NULL DEFAULT 'owned_and_shared'
                             CHECK (access_scope IN ('owned_and_shared', 'all')),
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    password_hash        text NOT NULL,
    must_change_password boolean NOT NULL DEFAULT true,
    totp_required        boolean NOT NULL DEFAULT false,
    totp_secret          bytea,
    totp_pending         bytea,
    totp_last_step       bigint,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX users_org_username ON users (org_id, lower(username));

ALTER TABLE orgs ADD CONSTRAINT orgs_account_manager_fk
    FOREIGN KEY (account_manager_id) REFERENCES users (id) ON DELETE RESTRICT
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE user_groups (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX user_groups_org_name ON user_groups (org_id, lower(name));

-- A group holds users of its own org only: both keys include org_id.
CREATE TABLE group_members (
    org_id   uuid NOT NULL,
    group_id uuid NOT NULL,
    user_id  uuid NOT NULL,
    PRIMARY KEY (group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Sessions and API keys are stored by the SHA-256 of the token, never the token.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    user_id      uuid NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    reauth_at    timestamptz NOT NULL DEFAULT now(),
    ip           text NOT NULL DEFAULT '',
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    user_id      uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_user ON api_keys (user_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_keys', 'users', 'user_groups', 'group_members', 'sessions',
                             'api_keys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON org_keys TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON users, user_groups, group_members, sessions, api_keys
    TO :"app_role";

-- Authenticate a bearer token in one round trip: set the org's RLS context, find the
-- session (or API key) and its user, refresh last-seen at most every 30 s, and end an
-- expired session. status: ok, missing, expired, disabled.
CREATE FUNCTION authenticate_token(p_org uuid, p_hash bytea, p_is_session boolean,
                                   p_idle interval)
RETURNS TABLE (status text, session_id uuid, api_key_id uuid, user_id uuid, username text,
               role text, access_scope text, must_change_password boolean,
               totp_setup_required boolean, org_display_name text, org_is_msp boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s record;
    u record;
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true);
    IF p_is_session THEN
        SELECT id, user_id, last_seen_at, expires_at INTO s FROM sessions
            WHERE token_hash = p_hash;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'missing'::text, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF s.expires_at <= now() OR s.last_seen_at + p_idle <= now() THEN
            DELETE FROM sessions WHERE id = s.id;
            RETURN QUERY SELECT 'expired'::text, s.id, NULL::uuid, s.user_id, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF now() - s.last_seen_at > interval '30 seconds' THEN
            UPDATE sessions SET last_seen_at = now() WHERE id = s.id;
        END IF;
    ELSE
        SELECT id, user_id, last_used_at INTO s FROM api_keys WHERE token_hash = p_hash;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'missing'::text, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF s.last_used_at IS NULL OR now() - s.last_used_at > interval '30 seconds' THEN
            UPDATE api_keys SET last_used_at = now() WHERE id = s.id;
        END IF;
    END IF;
    SELECT us.id, us.username, us.role, us.access_scope, us.status, us.must_change_password,
           us.totp_required AND us.totp_secret IS NULL AS totp_setup, o.display_name, o.is_msp
        INTO u FROM users us JOIN orgs o ON o.id = us.org_id WHERE us.id = s.user_id;
    RETURN QUERY SELECT CASE WHEN u.status = 'active' THEN 'ok' ELSE 'disabled' END,
        CASE WHEN p_is_session THEN s.id END, CASE WHEN p_is_session THEN NULL ELSE s.id END,
        u.id, u.username, u.role, u.access_scope, u.must_change_password, u.totp_setup,
        u.display_name, u.is_msp;
END $$;
GRANT EXECUTE ON FUNCTION authenticate_token(uuid, bytea, boolean, interval) TO :"app_role";
