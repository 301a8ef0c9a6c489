-- Managing client orgs from the MSP: org access requests (dual control) and grants.
-- Both live in MSPOrg's tenancy (org_id = MSPOrg) because they are MSP staff data;
-- client_org_id names the org they open.

CREATE TABLE org_access_requests (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    client_org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    designee_user_id  uuid REFERENCES users (id) ON DELETE CASCADE,
    designee_group_id uuid REFERENCES user_groups (id) ON DELETE CASCADE,
    proposer_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    approver_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason            text NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
    status            text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled',
                                            'expired')),
    decision_reason   text NOT NULL DEFAULT '' CHECK (length(decision_reason) <= 2000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    decided_at        timestamptz,
    CHECK (num_nonnulls(designee_user_id, designee_group_id) = 1)
);
CREATE INDEX org_access_requests_approver ON org_access_requests (approver_id, status);
CREATE INDEX org_access_requests_proposer ON org_access_requests (proposer_id, status);
CREATE INDEX org_access_requests_client ON org_access_requests (client_org_id, status);

CREATE TABLE org_access_grants (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    client_org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    group_id      uuid REFERENCES user_groups (id) ON DELETE CASCADE,
    request_id    uuid REFERENCES org_access_requests (id) ON DELETE SET NULL,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(user_id, group_id) = 1)
);
CREATE UNIQUE INDEX org_access_grants_user ON org_access_grants (client_org_id, user_id)
    WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX org_access_grants_group ON org_access_grants (client_org_id, group_id)
    WHERE group_id IS NOT NULL;
CREATE INDEX org_access_grants_user_lookup ON org_access_grants (user_id);
CREATE INDEX org_access_grants_group_lookup ON org_access_grants (group_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_access_requests', 'org_access_grants'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON org_access_requests, org_access_grants TO :"app_role";

-- Create an org with its first data key, an empty audit chain and its first event in
-- one call, inside that org's RLS context, so an import of thousands of orgs can be
-- pipelined. The server computes the wrapped key (server/keyring.py).
CREATE FUNCTION create_org_with_chain(
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
