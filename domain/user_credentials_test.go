package domain

import (
	"errors"
	"fmt"
	"testing"
)

func TestEnrollMFADevice(t *testing.T) {
	u := passwordUser()
	if _, err := u.EnrollMFADevice("d", MFAEmail, "", "not-an-email", "", ""); fieldsOf(err)["email"] != true {
		t.Errorf("bad email: %v", err)
	}
	if _, err := u.EnrollMFADevice("d", MFASMS, "", "", "0044 1234", ""); fieldsOf(err)["phone"] != true {
		t.Errorf("bad phone: %v", err)
	}
	if _, err := u.EnrollMFADevice("d", MFATOTP, "", "", "", ""); fieldsOf(err)["secret"] != true {
		t.Errorf("TOTP without a secret: %v", err)
	}
	if _, err := u.EnrollMFADevice("d", "PUSH", "", "", "", ""); fieldsOf(err)["type"] != true {
		t.Errorf("unknown type: %v", err)
	}
	for i := range MaxMFADevices {
		ev, err := u.EnrollMFADevice(fmt.Sprint("d", i), MFASMS, "phone", "", "+447700900123", "")
		if err != nil {
			t.Fatal(err)
		}
		u.Apply(ev)
	}
	if _, err := u.EnrollMFADevice("d11", MFAEmail, "", "a@example.com", "", ""); !errors.Is(err, ErrConflict) {
		t.Errorf("11th device: %v", err)
	}
	if _, ok, err := u.ActivateMFADevice("d0"); !ok || err != nil {
		t.Errorf("activate: %v %v", ok, err)
	}
	u.Apply(UserMFADeviceActivated{DeviceID: "d0"})
	if _, ok, err := u.ActivateMFADevice("d0"); ok || err != nil {
		t.Errorf("activate twice: %v %v", ok, err)
	}
	if _, err := u.RemoveMFADevice("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove unknown: %v", err)
	}
}

func TestRecordConsentIsIdempotentWhileActive(t *testing.T) {
	u := passwordUser()
	ev, id, ok, err := u.RecordConsent("c1", " marketing ", "v1", "text")
	if err != nil || !ok || id != "c1" || ev.Purpose != "marketing" {
		t.Fatalf("first: %v %v %v %#v", id, ok, err, ev)
	}
	u.Apply(ev)
	if _, id, ok, _ := u.RecordConsent("c2", "marketing", "v1", "text"); ok || id != "c1" {
		t.Fatalf("again while active: %v %v", id, ok)
	}
	r, ok, err := u.RevokeConsent("c1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	u.Apply(r)
	if _, ok, err := u.RevokeConsent("c1"); ok || err != nil {
		t.Fatalf("revoke twice: %v %v", ok, err)
	}
	if _, id, ok, _ := u.RecordConsent("c3", "marketing", "v1", "text"); !ok || id != "c3" {
		t.Fatalf("after revocation: %v %v", id, ok)
	}
	if _, _, _, err := u.RecordConsent("c4", "", "", ""); fieldsOf(err)["purpose"] != true {
		t.Fatalf("empty purpose: %v", err)
	}
}

func TestLinkAccount(t *testing.T) {
	u := passwordUser()
	ev, _, ok, err := u.LinkAccount("l1", "google", "sub-1")
	if err != nil || !ok {
		t.Fatal(err)
	}
	u.Apply(ev)
	if _, id, ok, _ := u.LinkAccount("l2", "Google", "SUB-1"); ok || id != "l1" {
		t.Fatalf("same pair: %v %v", id, ok)
	}
	if _, _, _, err := u.LinkAccount("l3", "google", "a\nb"); fieldsOf(err)["subject"] != true {
		t.Fatalf("two-line subject: %v", err)
	}
	un, l, err := u.UnlinkAccount("l1")
	if err != nil || l.Subject != "sub-1" || un.LinkID != "l1" {
		t.Fatal(err, l, un)
	}
	if _, _, err := u.UnlinkAccount("l9"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}
