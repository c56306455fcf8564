-- Secrets at rest: the credential columns of whatsapp_accounts now hold
-- sealed values (`v1.{key id}.{ciphertext}`, see src/secrets), which are
-- randomised: a refused credential is found by its fingerprint instead
-- (SHA-256 of the purpose and the value, filled in at start for values
-- stored before this version, which are sealed at the same time).
ALTER TABLE whatsapp_accounts ADD COLUMN meta_access_token_fp TEXT;
ALTER TABLE whatsapp_accounts ADD COLUMN twilio_auth_token_fp TEXT;
