package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// invalid is a ClassInvalid error naming field.
func invalid(field, format string, args ...any) error {
	return &connectors.Error{Class: connectors.ClassInvalid, Op: "map attributes",
		Err: fmt.Errorf("%w: %w", domain.ErrInvalid, domain.Invalidf(field, format, args...))}
}

// classify wraps err of op in a classified *connectors.Error. LDAP result codes: RFC 4511
// appendix A; go-ldap's own codes (200+) are client-side.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return err
	}
	e := &connectors.Error{Op: op, Class: connectors.ClassUnavailable, Err: cleanErr(err)}
	var le *goldap.Error
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Class = connectors.ClassUnavailable
	case errors.As(err, &le):
		e.Status = int(le.ResultCode)
		e.Class = classOfCode(le.ResultCode)
	case errors.As(err, &ne):
		e.Class = connectors.ClassUnavailable
	}
	return e
}

func classOfCode(code uint16) connectors.Class {
	switch code {
	case goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInsufficientAccessRights,
		goldap.LDAPResultInappropriateAuthentication, goldap.LDAPResultStrongAuthRequired,
		goldap.LDAPResultConfidentialityRequired, goldap.LDAPResultAuthMethodNotSupported,
		goldap.ErrorEmptyPassword:
		return connectors.ClassAuth
	case goldap.LDAPResultNoSuchObject:
		return connectors.ClassNotFound
	case goldap.LDAPResultEntryAlreadyExists, goldap.LDAPResultAttributeOrValueExists:
		return connectors.ClassConflict
	case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultTimeLimitExceeded,
		goldap.LDAPResultAdminLimitExceeded, goldap.LDAPResultLoopDetect, goldap.LDAPResultOther,
		goldap.LDAPResultOperationsError, goldap.ErrorNetwork, goldap.LDAPResultServerDown,
		goldap.LDAPResultTimeout, goldap.LDAPResultConnectError:
		return connectors.ClassUnavailable
	case goldap.LDAPResultConstraintViolation, goldap.LDAPResultObjectClassViolation,
		goldap.LDAPResultInvalidAttributeSyntax, goldap.LDAPResultUndefinedAttributeType,
		goldap.LDAPResultInvalidDNSyntax, goldap.LDAPResultNamingViolation,
		goldap.LDAPResultNotAllowedOnRDN, goldap.LDAPResultNotAllowedOnNonLeaf,
		goldap.LDAPResultObjectClassModsProhibited, goldap.LDAPResultNoSuchAttribute,
		goldap.LDAPResultInappropriateMatching, goldap.LDAPResultUnwillingToPerform,
		goldap.LDAPResultProtocolError, goldap.LDAPResultUnavailableCriticalExtension,
		goldap.LDAPResultAffectsMultipleDSAs, goldap.ErrorFilterCompile, goldap.LDAPResultSizeLimitExceeded:
		return connectors.ClassInvalid
	}
	// An unknown code is retried rather than losing the change (as connectors.ClassOf does).
	return connectors.ClassUnavailable
}

// cleanErr keeps an error's text to one line of bounded length (the store's diagnostic message
// comes from outside).
func cleanErr(err error) error {
	msg := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(err.Error(), "?"))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return &wrapped{msg: msg, err: err}
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// isConnErr reports whether err means the connection is unusable.
func isConnErr(err error) bool {
	var le *goldap.Error
	if errors.As(err, &le) {
		return le.ResultCode == goldap.ErrorNetwork || le.ResultCode == goldap.LDAPResultServerDown ||
			le.ResultCode == goldap.LDAPResultTimeout || le.ResultCode == goldap.LDAPResultConnectError ||
			le.ResultCode == goldap.LDAPResultUnavailable || le.ResultCode == goldap.LDAPResultBusy
	}
	var ne net.Error
	return errors.As(err, &ne)
}
