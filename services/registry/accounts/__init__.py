"""People's accounts: users, passwords (argon2id), e-mail verification, sign-in and
server-side web sessions, password reset, secretariat staff roles, contact e-mail
verification."""
