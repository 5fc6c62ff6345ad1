package commands

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
)

// RFC 6238 Appendix B, SHA-1 (8 digits, secret "12345678901234567890").
func TestTOTPRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"},
		{2000000000, "69279037"}, {20000000000, "65353130"}} {
		if got := totpAt(secret, time.Unix(v.unix, 0), 8); got != v.code {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.code)
		}
	}
	now := time.Unix(1111111111, 0)
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		if !totpValid(secret, totpAt(secret, now.Add(d), 6), now) {
			t.Errorf("code of %v away refused", d)
		}
	}
	for _, d := range []time.Duration{-90 * time.Second, 90 * time.Second} {
		if totpValid(secret, totpAt(secret, now.Add(d), 6), now) {
			t.Errorf("code of %v away accepted", d)
		}
	}
	if totpValid(secret, "", now) || totpValid(secret, "12345", now) {
		t.Error("short code accepted")
	}
}

func TestEnrollAndActivateTOTP(t *testing.T) {
	f := newCredFixture(t, domain.DefaultPasswordPolicy())
	ctx := context.Background()
	res, err := f.creds.EnrollMFADevice.Handle(ctx, EnrollMFADevice{EnvironmentID: f.env, UserID: f.user, Type: domain.MFATOTP, Name: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Device.Active || res.Device.Type != domain.MFATOTP || len(res.Secret) != 32 {
		t.Fatalf("result %+v", res)
	}
	if !strings.HasPrefix(res.ProvisioningURI, "otpauth://totp/Acme:alice?") || !strings.Contains(res.ProvisioningURI, "secret="+res.Secret) {
		t.Fatalf("URI %s", res.ProvisioningURI)
	}
	secret, err := totpBase32.DecodeString(res.Secret)
	if err != nil || len(secret) != totpSecretSize {
		t.Fatal(err)
	}
	evs := f.userEvents(t)
	enrolled := evs[len(evs)-1].(domain.UserMFADeviceEnrolled)
	if !strings.HasPrefix(enrolled.SealedSecret, "v1:") {
		t.Fatalf("sealed secret %q", enrolled.SealedSecret)
	}
	assertLogHasNo(t, f.d, res.Secret, string(secret))

	activate := ActivateMFADevice{EnvironmentID: f.env, UserID: f.user, DeviceID: res.Device.ID}
	if _, err := f.creds.ActivateMFADevice.Handle(ctx, activate); fieldOf(err) != "code" {
		t.Fatalf("no code: %v", err)
	}
	activate.Code = totpAt(secret, f.clock.Now().Add(-5*time.Minute), 6)
	if _, err := f.creds.ActivateMFADevice.Handle(ctx, activate); fieldOf(err) != "code" {
		t.Fatalf("stale code: %v", err)
	}
	activate.Code = totpAt(secret, f.clock.Now(), 6)
	got, err := f.creds.ActivateMFADevice.Handle(ctx, activate)
	if err != nil || !got.Device.Active || got.Position.IsZero() {
		t.Fatalf("activate: %+v %v", got, err)
	}
	if again, err := f.creds.ActivateMFADevice.Handle(ctx, activate); err != nil || !again.Position.IsZero() {
		t.Fatalf("activate twice: %+v %v", again, err)
	}
	if _, err := f.creds.RemoveMFADevice.Handle(ctx, RemoveMFADevice{EnvironmentID: f.env, UserID: f.user, DeviceID: res.Device.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.creds.RemoveMFADevice.Handle(ctx, RemoveMFADevice{EnvironmentID: f.env, UserID: f.user, DeviceID: res.Device.ID}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestEnrollEmailAndSMSDevices(t *testing.T) {
	f := newCredFixture(t, domain.DefaultPasswordPolicy())
	ctx := context.Background()
	if _, err := f.creds.EnrollMFADevice.Handle(ctx, EnrollMFADevice{EnvironmentID: f.env, UserID: f.user, Type: domain.MFAEmail, Email: "nope"}); fieldOf(err) != "email" {
		t.Fatalf("bad email: %v", err)
	}
	if _, err := f.creds.EnrollMFADevice.Handle(ctx, EnrollMFADevice{EnvironmentID: f.env, UserID: f.user, Type: domain.MFASMS, Phone: "07700 900123"}); fieldOf(err) != "phone" {
		t.Fatalf("bad phone: %v", err)
	}
	for i := range domain.MaxMFADevices {
		res, err := f.creds.EnrollMFADevice.Handle(ctx, EnrollMFADevice{EnvironmentID: f.env, UserID: f.user, Type: domain.MFASMS, Phone: "+447700900123"})
		if err != nil || res.Secret != "" || res.ProvisioningURI != "" {
			t.Fatalf("device %d: %+v %v", i, res, err)
		}
		if i == 0 { // EMAIL and SMS devices activate without a code.
			if r, err := f.creds.ActivateMFADevice.Handle(ctx, ActivateMFADevice{EnvironmentID: f.env, UserID: f.user, DeviceID: res.Device.ID}); err != nil || !r.Device.Active {
				t.Fatalf("activate SMS: %+v %v", r, err)
			}
		}
	}
	if _, err := f.creds.EnrollMFADevice.Handle(ctx, EnrollMFADevice{EnvironmentID: f.env, UserID: f.user, Type: domain.MFAEmail, Email: "a@example.com"}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("device %d: %v", domain.MaxMFADevices+1, err)
	}
}
