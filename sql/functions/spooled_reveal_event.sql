-- requires: account_access, password_revealed_event
--
-- The event a node that cannot write spools for a reveal reveal_account answered with
-- audited = false: the same builder, checked_out read as reveal_account reads it
-- (account_access, sql/013). Read-only; called in the org's RLS context.
CREATE OR REPLACE FUNCTION spooled_reveal_event(p_account uuid, p_resource uuid,
                                                p_username text, p_permission text,
                                                p_user uuid)
RETURNS TABLE (operation text, target_type text, target text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT e.operation, e.target_type, e.target, e.details
      FROM account_access(p_account, p_resource, p_user) acc,
           password_revealed_event(p_account, p_resource, p_username, p_permission,
                                   acc.controlled) e
$$;
GRANT EXECUTE ON FUNCTION spooled_reveal_event(uuid, uuid, text, text, uuid) TO :"app_role";
