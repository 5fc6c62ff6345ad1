package commands

// PasswordVerifier is what the password commands need of a hasher: PasswordHasher plus
// verification of any stored format and rehashing. commands/password.Hasher implements it.
type PasswordVerifier interface {
	PasswordHasher
	// Verify reports whether plain is hash's password, and whether hash should be replaced
	// (imported, or weaker than the current parameters). A nil error with ok false is a wrong
	// password.
	Verify(hash, plain string) (ok, needsRehash bool, err error)
	// Rehash returns a current hash of plain without checking any policy.
	Rehash(plain string) (string, error)
}

// SecretSealer seals secrets before they enter the log. commands/secret.Sealer implements it.
type SecretSealer interface {
	Seal(plain []byte, aad string) (string, error)
	Open(sealed, aad string) ([]byte, error)
}

// CredentialPorts are what the credential commands need beyond Deps.
type CredentialPorts struct {
	Passwords PasswordVerifier
	Secrets   SecretSealer
	// TOTPIssuer names the service in authenticator apps; "idstream" when empty.
	TOTPIssuer string
}

// Credentials holds the handlers of the credential commands: password policy and passwords,
// MFA devices, consents and linked accounts. Fields are alphabetized.
type Credentials struct {
	ActivateMFADevice  *ActivateMFADeviceHandler
	ChangeUserPassword *ChangeUserPasswordHandler
	CheckUserPassword  *CheckUserPasswordHandler
	EnrollMFADevice    *EnrollMFADeviceHandler
	LinkAccount        *LinkAccountHandler
	RecordConsent      *RecordConsentHandler
	RemoveMFADevice    *RemoveMFADeviceHandler
	ResetUserPassword  *ResetUserPasswordHandler
	RevokeConsent      *RevokeConsentHandler
	SetPasswordPolicy  *SetPasswordPolicyHandler
	SetUserPassword    *SetUserPasswordHandler
	UnlinkAccount      *UnlinkAccountHandler
}

// NewCredentials builds every credential handler on d and ports.
func NewCredentials(d *Deps, ports CredentialPorts) *Credentials {
	issuer := ports.TOTPIssuer
	if issuer == "" {
		issuer = "idstream"
	}
	return &Credentials{
		ActivateMFADevice:  NewActivateMFADevice(d, ports.Secrets),
		ChangeUserPassword: NewChangeUserPassword(d, ports.Passwords),
		CheckUserPassword:  NewCheckUserPassword(d, ports.Passwords),
		EnrollMFADevice:    NewEnrollMFADevice(d, ports.Secrets, issuer),
		LinkAccount:        NewLinkAccount(d),
		RecordConsent:      NewRecordConsent(d),
		RemoveMFADevice:    NewRemoveMFADevice(d),
		ResetUserPassword:  NewResetUserPassword(d, ports.Passwords),
		RevokeConsent:      NewRevokeConsent(d),
		SetPasswordPolicy:  NewSetPasswordPolicy(d),
		SetUserPassword:    NewSetUserPassword(d, ports.Passwords),
		UnlinkAccount:      NewUnlinkAccount(d),
	}
}
