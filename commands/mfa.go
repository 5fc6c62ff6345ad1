package commands

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// EnrollMFADevice enrolls a new, inactive MFA device. Email is for EMAIL devices, Phone (E.164)
// for SMS ones.
type EnrollMFADevice struct {
	EnvironmentID string
	UserID        string
	Type          domain.MFADeviceType
	Name          string
	Email         string
	Phone         string
}

// EnrollMFADeviceResult names the device. For TOTP, Secret (base32) and ProvisioningURI
// (otpauth://) are returned this once: the log holds the secret only sealed.
type EnrollMFADeviceResult struct {
	Device          domain.MFADevice
	Secret          string
	ProvisioningURI string
	Position        eventstore.Position
}

// EnrollMFADeviceHandler handles EnrollMFADevice.
type EnrollMFADeviceHandler struct {
	d       *Deps
	secrets SecretSealer
	issuer  string
}

// NewEnrollMFADevice returns the handler of EnrollMFADevice; issuer names the service in
// authenticator apps.
func NewEnrollMFADevice(d *Deps, secrets SecretSealer, issuer string) *EnrollMFADeviceHandler {
	return &EnrollMFADeviceHandler{d: d, secrets: secrets, issuer: issuer}
}

// Handle appends user.mfa_device_enrolled. A TOTP device gets a 20-byte random secret, sealed
// for this user and device. A user with domain.MaxMFADevices devices is ErrConflict. Concurrent
// changes of the user are retried.
func (h *EnrollMFADeviceHandler) Handle(ctx context.Context, in EnrollMFADevice) (EnrollMFADeviceResult, error) {
	var out EnrollMFADeviceResult
	deviceID := h.d.NewID()
	var secret []byte
	var sealed string
	if in.Type == domain.MFATOTP {
		if err := validID("userId", in.UserID); err != nil {
			return out, fmt.Errorf("enroll MFA device: %w", err)
		}
		secret = make([]byte, totpSecretSize)
		if _, err := rand.Read(secret); err != nil {
			return out, fmt.Errorf("enroll MFA device: %w", err)
		}
		var err error
		if sealed, err = h.secrets.Seal(secret, totpAAD(in.UserID, deviceID)); err != nil {
			return out, fmt.Errorf("enroll MFA device: %w", err)
		}
	}
	var account string
	err := retryOnConflict(ctx, func() error {
		u, expected, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
		if err != nil {
			return err
		}
		ev, err := u.EnrollMFADevice(deviceID, in.Type, in.Name, in.Email, in.Phone, sealed)
		if err != nil {
			return err
		}
		out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, u.EnvironmentID, u, ev)
		out.Device, _ = u.MFADevice(deviceID)
		account = u.Profile.Username
		return err
	})
	if err != nil {
		return EnrollMFADeviceResult{}, fmt.Errorf("enroll MFA device for user %s: %w", in.UserID, err)
	}
	if secret != nil {
		out.Secret = totpBase32.EncodeToString(secret)
		out.ProvisioningURI = totpURI(h.issuer, account, secret)
	}
	return out, nil
}

// ActivateMFADevice activates an enrolled device. Code is required for TOTP devices: a code
// the authenticator shows now proves it holds the secret. EMAIL and SMS devices are activated
// without a code here: delivering and checking one-time codes by email or SMS is not part of
// this command.
type ActivateMFADevice struct {
	EnvironmentID string
	UserID        string
	DeviceID      string
	Code          string
}

// MFADeviceResult is a device after a command.
type MFADeviceResult struct {
	Device   domain.MFADevice
	Position eventstore.Position
}

// ActivateMFADeviceHandler handles ActivateMFADevice.
type ActivateMFADeviceHandler struct {
	d       *Deps
	secrets SecretSealer
}

// NewActivateMFADevice returns the handler of ActivateMFADevice.
func NewActivateMFADevice(d *Deps, secrets SecretSealer) *ActivateMFADeviceHandler {
	return &ActivateMFADeviceHandler{d: d, secrets: secrets}
}

// Handle appends user.mfa_device_activated; an active device appends nothing (zero Position).
// A TOTP code that is not within one 30-second step of now is a *domain.FieldError on "code".
func (h *ActivateMFADeviceHandler) Handle(ctx context.Context, in ActivateMFADevice) (MFADeviceResult, error) {
	var out MFADeviceResult
	err := retryOnConflict(ctx, func() error {
		u, expected, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
		if err != nil {
			return err
		}
		ev, changed, err := u.ActivateMFADevice(in.DeviceID)
		if err != nil || !changed {
			out.Device, _ = u.MFADevice(in.DeviceID)
			return err
		}
		if dev, _ := u.MFADevice(in.DeviceID); dev.Type == domain.MFATOTP {
			if in.Code == "" {
				return domain.Invalidf("code", "is required to activate a TOTP device")
			}
			secret, err := h.secrets.Open(dev.SealedSecret, totpAAD(u.ID, dev.ID))
			if err != nil {
				return fmt.Errorf("TOTP secret of device %s: %w", dev.ID, err)
			}
			if !totpValid(secret, in.Code, h.d.Now()) {
				return domain.Invalidf("code", "is not the authenticator's current code")
			}
		}
		out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, u.EnvironmentID, u, ev)
		out.Device, _ = u.MFADevice(in.DeviceID)
		return err
	})
	if err != nil {
		return MFADeviceResult{}, fmt.Errorf("activate MFA device %s: %w", in.DeviceID, err)
	}
	return out, nil
}

// RemoveMFADevice removes a device.
type RemoveMFADevice struct {
	EnvironmentID string
	UserID        string
	DeviceID      string
}

// RemoveMFADeviceHandler handles RemoveMFADevice.
type RemoveMFADeviceHandler struct{ d *Deps }

// NewRemoveMFADevice returns the handler of RemoveMFADevice.
func NewRemoveMFADevice(d *Deps) *RemoveMFADeviceHandler { return &RemoveMFADeviceHandler{d: d} }

// Handle appends user.mfa_device_removed; an unknown device is ErrNotFound.
func (h *RemoveMFADeviceHandler) Handle(ctx context.Context, in RemoveMFADevice) (Committed, error) {
	var out Committed
	err := retryOnConflict(ctx, func() error {
		u, expected, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
		if err != nil {
			return err
		}
		ev, err := u.RemoveMFADevice(in.DeviceID)
		if err != nil {
			return err
		}
		out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, u.EnvironmentID, nil, ev)
		return err
	})
	if err != nil {
		return Committed{}, fmt.Errorf("remove MFA device %s: %w", in.DeviceID, err)
	}
	return out, nil
}
