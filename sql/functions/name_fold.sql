-- Names people give things (user groups, resources, resource groups, password policies,
-- account usernames) are compared through one fold:
-- name_fold = NFC(lowercase(NFKC(name))) with ICU's root-locale case mapping, so "Café"
-- (U+00E9) and "Cafe" + U+0301 are one name whatever locale the cluster was made with
-- (Unicode TR15; UAX #31). A cluster without ICU falls back to lower() under the
-- database's own collation. (sql/012.)
--
-- The unique name indexes (sql/012) are built on it, so an install keeps the variant it
-- was made with even if its PostgreSQL gains or loses ICU later; a change to the fold
-- itself needs a numbered migration that rebuilds those indexes.
DO $$
DECLARE
    v_icu boolean := EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu');
BEGIN
    IF to_regprocedure('name_fold(text)') IS NOT NULL THEN
        SELECT position('und-x-icu' IN prosrc) > 0 INTO v_icu
          FROM pg_proc WHERE oid = 'name_fold(text)'::regprocedure;
    END IF;
    IF v_icu THEN
        EXECUTE $f$CREATE OR REPLACE FUNCTION name_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS 'SELECT normalize(lower(normalize(t, NFKC) COLLATE "und-x-icu"), NFC)'$f$;
    ELSE
        EXECUTE $f$CREATE OR REPLACE FUNCTION name_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS 'SELECT normalize(lower(normalize(t, NFKC)), NFC)'$f$;
    END IF;
END $$;
GRANT EXECUTE ON FUNCTION name_fold(text) TO :"app_role";
