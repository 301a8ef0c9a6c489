-- requires: org_reach, credential_stands, account_permission, account_access
--
-- THE rule of using an account's secret (issue 30, F1 of its attack pass): may user p_user
-- (home org p_home) use account p_account of an org, for p_purpose, now? Its one home:
-- use_account (the reveal and a brokered session's start, sql/functions/reveal_account.sql)
-- calls it once and then records the event; account_use_allowed (below) asks it again,
-- with no side effect, while a brokered session runs.
--
-- It decides, in this order (the first refusal answers; access tells it):
--   credential  - credential_stands: 'user_disabled', 'credential_ended';
--   org / reach - the org (p_org_id, else by display name p_org_name, case-insensitive)
--                 exists and org_reach lets the user act there: else 'no_org' (no such
--                 org and out of reach are answered alike);
--   reason      - the org requires a reason and p_reason is empty: 'reason_required'
--                 (asked when a use begins: purposes 'reveal' and 'connect' only);
--   entitlement - account_permission (p_scope_all: the actor's access scope is 'all',
--                 which counts in its home org only): 'not_entitled' (also: no such
--                 account in that org; answered alike);
--   check-out   - account_access: a controlled account only inside the user's own open
--                 window: 'held' (someone else's exclusive window) or 'request_required';
--   connect only - p_purpose 'reveal' of an account set "connect only": 'connect_only'.
-- 'ok' otherwise. Purposes: 'reveal', 'connect' (a brokered session begins), 'connected'
-- (a brokered session under way: the same rule without the reason, decided at its start).
--
-- One row, always. Besides access: the org (id, display name) once resolved; the
-- account's permission, resource, username, policy, whether it is controlled, once read;
-- holder / held_until for a check-out refusal (exclusive control only); and, for 'ok'
-- only, the ciphertexts (password, notes, secret_fields). Read in the caller's snapshot
-- (STABLE): use_account reads the account and decides in one statement, as before.
-- Owner only (it returns ciphertexts): not granted to the application role, and run as
-- the owner by the SECURITY DEFINER functions that call it, which set the search_path.
-- It leaves app.org_id at the account's org once it resolved one.
CREATE OR REPLACE FUNCTION account_use_rule(p_purpose text, p_account uuid, p_user uuid,
                                            p_home uuid, p_org_name text, p_org_id uuid,
                                            p_scope_all boolean, p_session uuid,
                                            p_api_key uuid, p_reason text,
                                            OUT access text, OUT org_id uuid,
                                            OUT org_name text, OUT permission text,
                                            OUT resource_id uuid, OUT username text,
                                            OUT policy text, OUT controlled boolean,
                                            OUT holder text, OUT held_until timestamptz,
                                            OUT password bytea, OUT notes bytea,
                                            OUT secret_fields bytea)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    o record;
    r record;
    acc record;
BEGIN
    -- The credential and the reach are decided in the statement that uses the secret: the
    -- token was checked and the org resolved before, and a disable, a logout or a revoked
    -- grant may have committed since.
    PERFORM set_config('app.org_id', p_home::text, true);
    access := credential_stands(p_user, p_session, p_api_key);
    IF access IS NOT NULL THEN
        RETURN;
    END IF;
    IF p_org_id IS NOT NULL THEN
        SELECT g.id, g.display_name, g.require_reveal_reason INTO o
          FROM orgs g WHERE g.id = p_org_id;
    ELSE
        SELECT g.id, g.display_name, g.require_reveal_reason INTO o
          FROM orgs g WHERE lower(g.display_name) = lower(p_org_name);
    END IF;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM org_reach(p_user, p_home, o.id)) THEN
        access := 'no_org';
        RETURN;
    END IF;
    org_id := o.id;
    org_name := o.display_name;
    IF o.require_reveal_reason AND coalesce(p_reason, '') = ''
       AND p_purpose IN ('reveal', 'connect') THEN
        access := 'reason_required';
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', o.id::text, true);
    -- One statement, so the account and the entitlement are read in one snapshot
    -- (account_permission is STABLE: its queries see this statement's snapshot).
    SELECT a.password, a.notes,
           account_permission(p_user, o.id, p_scope_all AND o.id = p_home, a.id) AS permission,
           a.resource_id, a.username, a.policy, a.secret_fields, a.connect_only INTO r
        FROM accounts a WHERE a.id = p_account AND a.org_id = o.id;
    IF NOT FOUND OR r.permission IS NULL THEN
        access := 'not_entitled';
        RETURN;
    END IF;
    permission := r.permission;
    resource_id := r.resource_id;
    username := r.username;
    policy := r.policy;
    SELECT * INTO acc FROM account_access(p_account, r.resource_id, p_user);
    controlled := acc.controlled;
    IF acc.controlled AND NOT acc.mine THEN
        access := CASE WHEN acc.exclusive AND acc.holder IS NOT NULL THEN 'held'
                       ELSE 'request_required' END;
        holder := CASE WHEN acc.exclusive THEN acc.holder || '@' || acc.holder_org END;
        held_until := CASE WHEN acc.exclusive THEN acc.held_until END;
        RETURN;
    END IF;
    -- "Connect only": the password is used by the gateway, never shown (issue 30).
    IF p_purpose = 'reveal' AND r.connect_only THEN
        access := 'connect_only';
        RETURN;
    END IF;
    access := 'ok';
    password := r.password;
    notes := r.notes;
    secret_fields := r.secret_fields;
END $$;
REVOKE ALL ON FUNCTION account_use_rule(text, uuid, uuid, uuid, text, uuid, boolean, uuid,
                                        uuid, text) FROM PUBLIC;

-- account_use_allowed: account_use_rule's answer alone ('ok' or the refusal), with no side
-- effect and no ciphertext, for a use already under way: the SSH gateway asks it
-- periodically while a brokered session runs (purpose 'connected'), and before it opens
-- one whose target it cannot reach (so such a refusal is told only to the entitled;
-- p_reason as the use would give it).
-- p_scope_all NULL: the user's access scope as it stands now (a session under way was
-- authenticated long ago). Read only: it runs on a standby or a fenced primary too.
CREATE OR REPLACE FUNCTION account_use_allowed(p_purpose text, p_account uuid, p_user uuid,
                                               p_home uuid, p_org_id uuid,
                                               p_scope_all boolean, p_session uuid,
                                               p_api_key uuid, p_reason text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_scope_all boolean := p_scope_all;
    v_context text := current_setting('app.org_id', true);
    v_access text;
BEGIN
    IF v_scope_all IS NULL THEN
        PERFORM set_config('app.org_id', p_home::text, true);
        SELECT u.access_scope = 'all' INTO v_scope_all FROM users u WHERE u.id = p_user;
    END IF;
    SELECT u.access INTO v_access
      FROM account_use_rule(p_purpose, p_account, p_user, p_home, NULL, p_org_id,
                            coalesce(v_scope_all, false), p_session, p_api_key, p_reason) u;
    PERFORM set_config('app.org_id', coalesce(v_context, ''), true);
    RETURN v_access;
END $$;
REVOKE ALL ON FUNCTION account_use_allowed(text, uuid, uuid, uuid, uuid, boolean, uuid, uuid,
                                         text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION account_use_allowed(text, uuid, uuid, uuid, uuid, boolean, uuid,
                                              uuid, text) TO :"app_role";
