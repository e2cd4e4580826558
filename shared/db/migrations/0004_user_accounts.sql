-- The account a user was created in, so its admins (and their ancestors') may issue the user's tokens.
ALTER TABLE users ADD COLUMN account_id bigint REFERENCES accounts (id);
CREATE INDEX users_account_idx ON users (account_id);
