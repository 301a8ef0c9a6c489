-- Create an org with its first data key, an empty audit chain and its first event in
-- one call, inside that org's RLS context, so an import of thousands of orgs can be
-- pipelined. The server computes the wrapped key (server/store/keyring.py). (sql/004.)
CREATE OR REPLACE FUNCTION create_org_with_chain(
    p_id uuid, p_name text, p_display_name text, p_is_msp boolean, p_account_manager uuid,
    p_description text, p_department text, p_location text, p_vault_control text,
    p_kek_id text, p_wrapped bytea,
    p_at timestamptz, p_actor text, p_actor_org text, p_ip text, p_details jsonb,
    p_node text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_event bigint;
BEGIN
    PERFORM set_config('app.org_id', p_id::text, true);
    INSERT INTO orgs (id, name, display_name, is_msp, account_manager_id, description,
                      department, location, vault_control)
    VALUES (p_id, p_name, p_display_name, p_is_msp, p_account_manager, p_description,
            p_department, p_location, p_vault_control);
    INSERT INTO org_keys (org_id, version, kek_id, wrapped) VALUES (p_id, 1, p_kek_id, p_wrapped);
    INSERT INTO audit_heads (org_id, seq, hash) VALUES (p_id, 0, decode(repeat('00', 32), 'hex'));
    INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, target_type,
                              target, outcome, details, node)
    VALUES (p_id, p_at, p_actor, p_actor_org, p_ip, 'org_created', 'org', p_display_name,
            'success', p_details, p_node)
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, p_id);
    PERFORM set_config('app.org_id', '', true);
END $$;
GRANT EXECUTE ON FUNCTION create_org_with_chain TO :"app_role";
