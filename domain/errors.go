package domain

import (
	"errors"
	"fmt"
)

// Error kinds. Every error a decision returns wraps exactly one of them; commands add the
// operation, and graph maps each kind to extensions.code once (NOT_FOUND, CONFLICT, INVALID,
// FORBIDDEN, UNAVAILABLE). Test with errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrInvalid     = errors.New("invalid")
	ErrForbidden   = errors.New("forbidden")
	ErrUnavailable = errors.New("unavailable")
)

// FieldError is an error that names the input field at fault, as a path from the input's root
// ("email", "name.given", "customAttributes.badgeNumber[1]"). Its kind is Kind (ErrInvalid when
// nil), so errors.Is(err, ErrInvalid) or errors.Is(err, ErrConflict) holds.
type FieldError struct {
	Field  string
	Reason string
	Kind   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Is reports whether target is the error's kind.
func (e *FieldError) Is(target error) bool {
	if e.Kind == nil {
		return target == ErrInvalid
	}
	return target == e.Kind
}

// Invalidf returns a *FieldError of kind ErrInvalid for field.
func Invalidf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// FieldConflictf returns a *FieldError of kind ErrConflict: the field's value is taken.
func FieldConflictf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...), Kind: ErrConflict}
}

// NotFoundf returns an error of kind ErrNotFound.
func NotFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// Conflictf returns an error of kind ErrConflict.
func Conflictf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}

// Forbiddenf returns an error of kind ErrForbidden.
func Forbiddenf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForbidden, fmt.Sprintf(format, args...))
}

// FieldErrors joins several field errors; errors.As finds each, errors.Is(err, ErrInvalid) holds.
func FieldErrors(errs ...error) error { return errors.Join(errs...) }
