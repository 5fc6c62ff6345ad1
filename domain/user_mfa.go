package domain

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// MaxMFADevices bounds the MFA devices of one user.
const MaxMFADevices = 10

const maxMFADeviceName = 100

// EnrollMFADevice records a new, inactive device. A TOTP device needs sealedSecret (the
// secret sealed by the caller; never plain); an EMAIL device a valid address; an SMS device an
// E.164 phone number ("+" then 2 to 15 digits).
func (u *User) EnrollMFADevice(deviceID string, typ MFADeviceType, name, email, phone, sealedSecret string) (UserMFADeviceEnrolled, error) {
	if !u.Exists {
		return UserMFADeviceEnrolled{}, NotFoundf("user %s", u.ID)
	}
	if len(u.MFADevices) >= MaxMFADevices {
		return UserMFADeviceEnrolled{}, Conflictf("user %s already has %d MFA devices, the most allowed; remove one first", u.ID, MaxMFADevices)
	}
	var errs []error
	if utf8.RuneCountInString(name) > maxMFADeviceName {
		errs = append(errs, Invalidf("name", "must be at most %d characters", maxMFADeviceName))
	}
	ev := UserMFADeviceEnrolled{EnvironmentID: u.EnvironmentID, UserID: u.ID, DeviceID: deviceID, Type: typ, Name: strings.TrimSpace(name)}
	switch typ {
	case MFATOTP:
		if sealedSecret == "" {
			errs = append(errs, Invalidf("secret", "a TOTP device needs a sealed secret"))
		}
		ev.SealedSecret = sealedSecret
	case MFAEmail:
		if !ValidEmail(email) {
			errs = append(errs, Invalidf("email", "must be an email address such as user@example.com"))
		}
		ev.Email = email
	case MFASMS:
		if !ValidE164(phone) {
			errs = append(errs, Invalidf("phone", "must be an E.164 phone number: + then the country code and number, digits only"))
		}
		ev.Phone = phone
	default:
		errs = append(errs, Invalidf("type", "must be TOTP, EMAIL or SMS"))
	}
	if len(errs) > 0 {
		return UserMFADeviceEnrolled{}, FieldErrors(errs...)
	}
	return ev, nil
}

// MFADevice returns the user's device id.
func (u *User) MFADevice(id string) (MFADevice, bool) {
	for _, d := range u.MFADevices {
		if d.ID == id {
			return d, true
		}
	}
	return MFADevice{}, false
}

// ActivateMFADevice activates device id once the caller has checked its proof of possession
// (a TOTP code). ok is false when the device is already active: nothing to record.
func (u *User) ActivateMFADevice(id string) (ev UserMFADeviceActivated, ok bool, err error) {
	d, found := u.MFADevice(id)
	if !u.Exists || !found {
		return ev, false, NotFoundf("MFA device %s of user %s", id, u.ID)
	}
	if d.Active {
		return ev, false, nil
	}
	return UserMFADeviceActivated{EnvironmentID: u.EnvironmentID, UserID: u.ID, DeviceID: id}, true, nil
}

// RemoveMFADevice removes device id.
func (u *User) RemoveMFADevice(id string) (UserMFADeviceRemoved, error) {
	if _, found := u.MFADevice(id); !u.Exists || !found {
		return UserMFADeviceRemoved{}, NotFoundf("MFA device %s of user %s", id, u.ID)
	}
	return UserMFADeviceRemoved{EnvironmentID: u.EnvironmentID, UserID: u.ID, DeviceID: id}, nil
}

// ValidEmail reports whether s is a bare email address (no display name, no angle brackets).
func ValidEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == "" && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// ValidE164 reports whether s is an E.164 phone number: "+", a non-zero digit, then 1 to 14
// more digits.
func ValidE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	return strings.Trim(s[1:], "0123456789") == ""
}
