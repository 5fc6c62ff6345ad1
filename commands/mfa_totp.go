package commands

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"time"
)

// TOTP as authenticator apps implement it (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, 6
// digits, 30-second steps from the Unix epoch.
const (
	totpDigits     = 6
	totpStep       = 30 * time.Second
	totpSecretSize = 20 // bytes: the HMAC-SHA-1 block's recommended key size (RFC 4226 §4)
	totpSkew       = 1  // steps accepted either side of now, for clock drift and typing time
)

var totpBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// hotp returns the RFC 4226 code of secret at counter with digits digits (6 to 8).
func hotp(secret []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// totpAt returns the TOTP code of secret at t with digits digits.
func totpAt(secret []byte, t time.Time, digits int) string {
	return hotp(secret, uint64(t.Unix()/int64(totpStep/time.Second)), digits)
}

// totpValid reports whether code is secret's 6-digit code within totpSkew steps of now. Every
// candidate is compared, in constant time.
func totpValid(secret []byte, code string, now time.Time) bool {
	if len(code) != totpDigits {
		return false
	}
	valid := 0
	for d := -totpSkew; d <= totpSkew; d++ {
		want := totpAt(secret, now.Add(time.Duration(d)*totpStep), totpDigits)
		valid |= subtle.ConstantTimeCompare([]byte(want), []byte(code))
	}
	return valid == 1
}

// totpURI returns the otpauth:// provisioning URI authenticator apps scan (Google
// Authenticator's Key Uri Format).
func totpURI(issuer, account string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", totpBase32.EncodeToString(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(totpDigits))
	q.Set("period", fmt.Sprint(int(totpStep/time.Second)))
	return "otpauth://totp/" + url.PathEscape(issuer) + ":" + url.PathEscape(account) + "?" + q.Encode()
}

// totpAAD binds a sealed TOTP secret to its user and device.
func totpAAD(userID, deviceID string) string { return "mfa-totp:" + userID + ":" + deviceID }
