-- Names people give things (user groups, resources, resource groups, password policies,
-- account usernames) are stored NFC-normalised, and compared through one fold:
-- name_fold = NFC(lowercase(NFKC(name))) with ICU's root-locale case mapping, so "Café"
-- (U+00E9) and "Cafe" + U+0301 are one name whatever locale the cluster was made with
-- (Unicode TR15; UAX #31). A cluster without ICU falls back to lower() under the
-- database's own collation, which is what it did before.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        EXECUTE $f$CREATE FUNCTION name_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS 'SELECT normalize(lower(normalize(t, NFKC) COLLATE "und-x-icu"), NFC)'$f$;
    ELSE
        EXECUTE $f$CREATE FUNCTION name_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS 'SELECT normalize(lower(normalize(t, NFKC)), NFC)'$f$;
    END IF;
END $$;
GRANT EXECUTE ON FUNCTION name_fold(text) TO :"app_role";

CREATE FUNCTION name_nfc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := normalize(NEW.name, NFC);
    RETURN NEW;
END $$;
CREATE FUNCTION username_nfc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.username := normalize(NEW.username, NFC);
    RETURN NEW;
END $$;
CREATE TRIGGER user_groups_nfc BEFORE INSERT OR UPDATE ON user_groups
    FOR EACH ROW EXECUTE FUNCTION name_nfc();
CREATE TRIGGER resources_nfc BEFORE INSERT OR UPDATE ON resources
    FOR EACH ROW EXECUTE FUNCTION name_nfc();
CREATE TRIGGER resource_groups_nfc BEFORE INSERT OR UPDATE ON resource_groups
    FOR EACH ROW EXECUTE FUNCTION name_nfc();
CREATE TRIGGER password_policies_nfc BEFORE INSERT OR UPDATE ON password_policies
    FOR EACH ROW EXECUTE FUNCTION name_nfc();
CREATE TRIGGER accounts_nfc BEFORE INSERT OR UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION username_nfc();

DROP INDEX user_groups_org_name;
DROP INDEX resources_org_name;
DROP INDEX resource_groups_org_name;
DROP INDEX password_policies_org_name;
DROP INDEX accounts_resource_username;

-- Rows stored before this rule are normalised (the triggers above); names that now fold
-- to one keep the oldest as it is and give the later ones a suffix (rare: names that
-- differ only in Unicode form or case). Each org is rewritten in its own RLS context,
-- which the owner is subject to as well.
DO $$
DECLARE
    v_org uuid;
    t text;
BEGIN
    FOR v_org IN SELECT id FROM orgs LOOP
        PERFORM set_config('app.org_id', v_org::text, true);
        FOREACH t IN ARRAY ARRAY['user_groups', 'resources', 'resource_groups',
                                 'password_policies'] LOOP
            EXECUTE format(
                $q$UPDATE %1$I x SET name = x.name || CASE WHEN d.n > 0
                       THEN ' (duplicate ' || d.n || ')' ELSE '' END
                   FROM (SELECT id, row_number() OVER (PARTITION BY name_fold(name)
                                ORDER BY created_at, id) - 1 AS n
                           FROM %1$I WHERE org_id = $1) d
                  WHERE d.id = x.id$q$, t)
            USING v_org;
        END LOOP;
        UPDATE accounts x SET username = x.username || CASE WHEN d.n > 0
                   THEN ' (duplicate ' || d.n || ')' ELSE '' END
          FROM (SELECT id, row_number() OVER (PARTITION BY resource_id, name_fold(username)
                       ORDER BY created_at, id) - 1 AS n
                  FROM accounts WHERE org_id = v_org) d
         WHERE d.id = x.id;
    END LOOP;
    PERFORM set_config('app.org_id', '', true);
END $$;

CREATE UNIQUE INDEX user_groups_org_name ON user_groups (org_id, name_fold(name));
CREATE UNIQUE INDEX resources_org_name ON resources (org_id, name_fold(name));
CREATE UNIQUE INDEX resource_groups_org_name ON resource_groups (org_id, name_fold(name));
CREATE UNIQUE INDEX password_policies_org_name ON password_policies (org_id, name_fold(name));
CREATE UNIQUE INDEX accounts_resource_username ON accounts (resource_id, name_fold(username));
