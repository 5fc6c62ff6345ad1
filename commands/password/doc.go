// Package password hashes and verifies user passwords.
//
// New hashes are argon2id PHC strings. Verify also reads the formats other systems export, so
// that users can be imported with their hashes as they are and moved to argon2id at their next
// successful sign-in: bcrypt ($2a$, $2b$, $2y$), PBKDF2-SHA256 (the PHC-style
// "$pbkdf2-sha256$i=…,l=…$salt$hash" and passlib's "$pbkdf2-sha256$iter$salt$hash") and salted
// SHA ({SSHA}, {SSHA256}, {SSHA512}). Cost parameters read from a hash are bounded so that a
// hostile import cannot make one verification take the server down.
//
// Plain passwords never appear in an error this package returns, and neither do hashes.
package password
