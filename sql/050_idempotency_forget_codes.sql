-- Answers kept with an idempotency key before this migration may hold recovery codes or an
-- activation code in clear (their field names had no secret word: attack pass, session 10).
-- Forget those answers, keeping the status, as for any answer that holds a secret; a retry
-- is told its request succeeded (409 idempotent_answer_withheld), never given the codes.
UPDATE idempotency_keys SET answer = NULL, answer_kept = false
 WHERE answer IS NOT NULL
   AND (jsonb_path_exists(answer, '$.**.recovery_codes')
        OR jsonb_path_exists(answer, '$.**.activation_code'));
