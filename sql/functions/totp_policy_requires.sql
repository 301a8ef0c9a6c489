-- Whether an org's two-factor policy makes a user of role p_role use TOTP (issue 27,
-- item 3): 'everyone' requires it of every user, 'administrators' of the built-in
-- administrators (privileged_administrator, administrator; permissions.ADMIN_ROLES),
-- 'none' of nobody (a user's own totp_required flag still applies). THE rule: the login,
-- token authentication (authenticate_token) and /me all ask it.
CREATE OR REPLACE FUNCTION totp_policy_requires(p_policy text, p_role text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_policy = 'everyone'
        OR (p_policy = 'administrators'
            AND p_role IN ('privileged_administrator', 'administrator')), false)
$$;
GRANT EXECUTE ON FUNCTION totp_policy_requires(text, text) TO :"app_role";
