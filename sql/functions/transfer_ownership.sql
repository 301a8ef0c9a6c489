-- What a user owns in every org (an MSPOrg user may own resources it added in client
-- orgs), and handing it to another user when the owner is deleted. Each org is read in
-- its own RLS context; the caller's context is restored afterwards. p_new NULL: count only.
CREATE OR REPLACE FUNCTION transfer_ownership(p_user uuid, p_new uuid)
RETURNS TABLE (org_id uuid, resources integer, accounts integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_caller text := current_setting('app.org_id', true);
    v_org uuid;
    v_resources integer;
    v_accounts integer;
BEGIN
    FOR v_org IN SELECT id FROM orgs LOOP
        PERFORM set_config('app.org_id', v_org::text, true);
        IF p_new IS NULL THEN
            SELECT count(*) INTO v_resources FROM resources r
                WHERE r.org_id = v_org AND r.owner_id = p_user;
            SELECT count(*) INTO v_accounts FROM accounts a
                WHERE a.org_id = v_org AND a.owner_id = p_user;
        ELSE
            UPDATE resources r SET owner_id = p_new WHERE r.org_id = v_org AND r.owner_id = p_user;
            GET DIAGNOSTICS v_resources = ROW_COUNT;
            UPDATE accounts a SET owner_id = p_new WHERE a.org_id = v_org AND a.owner_id = p_user;
            GET DIAGNOSTICS v_accounts = ROW_COUNT;
        END IF;
        IF v_resources > 0 OR v_accounts > 0 THEN
            org_id := v_org;
            resources := v_resources;
            accounts := v_accounts;
            RETURN NEXT;
        END IF;
    END LOOP;
    PERFORM set_config('app.org_id', coalesce(v_caller, ''), true);
END $$;
GRANT EXECUTE ON FUNCTION transfer_ownership(uuid, uuid) TO :"app_role";
