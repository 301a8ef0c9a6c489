-- The order of share permissions: owner > full > modify > view (anything else 0).
CREATE OR REPLACE FUNCTION perm_rank(p text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p WHEN 'owner' THEN 4 WHEN 'full' THEN 3 WHEN 'modify' THEN 2
                  WHEN 'view' THEN 1 ELSE 0 END
$$;
GRANT EXECUTE ON FUNCTION perm_rank(text) TO :"app_role";
