-- The one place a reveal's audit event is built (issue 25): reveal_account records it on a
-- node that may write, spooled_reveal_event gives it to a node that spools.
--
-- The event of one reveal: operation, target as people read it ('<resource>/<account>')
-- and details. LANGUAGE sql, STABLE, no SET and not STRICT, so the planner inlines it into
-- reveal_account's INSERT (the hot path keeps one statement per batch of reveals).
CREATE OR REPLACE FUNCTION password_revealed_event(p_account uuid, p_resource uuid,
                                                   p_username text, p_permission text,
                                                   p_checked_out boolean)
RETURNS TABLE (operation text, target_type text, target text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 'password_revealed'::text, 'account'::text,
           coalesce((SELECT r.name FROM resources r WHERE r.id = p_resource),
                    p_resource::text) || '/' || p_username,
           jsonb_build_object('account_id', p_account, 'permission', p_permission,
                              'checked_out', p_checked_out)
$$;
GRANT EXECUTE ON FUNCTION password_revealed_event(uuid, uuid, text, text, boolean)
    TO :"app_role";
