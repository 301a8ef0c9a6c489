-- A primary that may not write (fenced by its own clock, or deposed and about to rejoin)
-- still serves reads, as a secondary does: the server runs the statements of such a
-- node in READ ONLY transactions, and the two functions that would write behind a
-- read (the last-seen refresh in authenticate_token, the password_revealed event in
-- reveal_account) then leave it to memory and the audit spool. Without this they
-- would wait for a synchronous commit that no standby will ever confirm.

CREATE FUNCTION database_may_write() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT pg_is_in_recovery() AND NOT current_setting('transaction_read_only')::boolean
$$;

CREATE OR REPLACE FUNCTION authenticate_token(p_org uuid, p_hash bytea, p_is_session boolean,
                                   p_idle interval)
RETURNS TABLE (status text, session_id uuid, api_key_id uuid, user_id uuid, username text,
               role text, access_scope text, must_change_password boolean,
               totp_setup_required boolean, org_display_name text, org_is_msp boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s record;
    u record;
    writable boolean := database_may_write();
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
            IF writable THEN
                DELETE FROM sessions WHERE id = s.id;
            END IF;
            RETURN QUERY SELECT 'expired'::text, s.id, NULL::uuid, s.user_id, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF writable AND now() - s.last_seen_at > interval '30 seconds' THEN
            UPDATE sessions SET last_seen_at = now() WHERE id = s.id;
        END IF;
    ELSE
        SELECT id, user_id, last_used_at INTO s FROM api_keys WHERE token_hash = p_hash;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'missing'::text, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF writable AND (s.last_used_at IS NULL
                         OR now() - s.last_used_at > interval '30 seconds') THEN
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

-- reveal_account: audited is false when the database did not record the event.
CREATE OR REPLACE FUNCTION reveal_account(p_account uuid, p_user uuid, p_org uuid, p_all boolean,
                               p_actor text, p_actor_org text, p_ip text, p_reason text,
                               p_node text)
RETURNS TABLE (password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
    v_event bigint;
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true);
    SELECT a.password, a.notes, p.permission, a.resource_id, a.username, a.policy INTO r
        FROM account_permissions(p_user, p_org, p_all) p
        JOIN accounts a ON a.id = p.account_id
        WHERE p.account_id = p_account;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- A hot standby, or a fenced primary reading in a read-only transaction, does not
    -- write: the server spools the event (fsync'd) before it decrypts anything, and
    -- ships it to the primary later.
    IF NOT database_may_write() THEN
        RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username,
            r.policy, false;
        RETURN;
    END IF;
    INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, target_type,
                              target, outcome, reason, details, node)
    VALUES (p_org, clock_timestamp(), p_actor, p_actor_org, p_ip, 'password_revealed',
            'account', r.username || '@' || r.resource_id, 'success', p_reason,
            jsonb_build_object('account_id', p_account, 'permission', r.permission), p_node)
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, p_org);
    RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username, r.policy,
        true;
END $$;
