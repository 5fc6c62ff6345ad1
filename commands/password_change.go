package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// ChangeUserPassword is the user's own change: the current password proves who asks.
type ChangeUserPassword struct {
	EnvironmentID   string
	UserID          string
	CurrentPassword string
	NewPassword     string
}

// ChangeUserPasswordHandler handles ChangeUserPassword.
type ChangeUserPasswordHandler struct {
	d      *Deps
	hasher PasswordVerifier
}

// NewChangeUserPassword returns the handler of ChangeUserPassword.
func NewChangeUserPassword(d *Deps, hasher PasswordVerifier) *ChangeUserPasswordHandler {
	return &ChangeUserPasswordHandler{d: d, hasher: hasher}
}

// Handle verifies CurrentPassword as CheckUserPassword does (a wrong one counts toward lockout
// and is a *domain.FieldError on "currentPassword"; a disabled or locked user is ErrForbidden),
// then sets NewPassword as SetUserPassword does, clearing MustChange. A password changed by
// someone else between the two steps is ErrConflict.
func (h *ChangeUserPasswordHandler) Handle(ctx context.Context, in ChangeUserPassword) (Committed, error) {
	res, hash, err := h.d.checkUserPassword(ctx, h.hasher, in.EnvironmentID, in.UserID, in.CurrentPassword)
	if err != nil {
		return Committed{}, fmt.Errorf("change password of user %s: %w", in.UserID, err)
	}
	switch res.Reason {
	case "":
	case domain.CheckWrongPassword:
		return Committed{}, fmt.Errorf("change password of user %s: %w", in.UserID,
			domain.Invalidf("currentPassword", "is not the user's current password"))
	case domain.CheckNoPassword:
		return Committed{}, fmt.Errorf("change password of user %s: %w", in.UserID,
			domain.Invalidf("currentPassword", "the user has no password to change; an administrator sets one"))
	default:
		return Committed{}, fmt.Errorf("change password of user %s: %w", in.UserID,
			domain.Forbiddenf("the user is %s", map[domain.PasswordCheckReason]string{domain.CheckLocked: "locked", domain.CheckDisabled: "disabled"}[res.Reason]))
	}
	pos, err := h.d.setUserPassword(ctx, h.hasher, in.EnvironmentID, in.UserID, in.NewPassword, false, &hash)
	if err != nil {
		return Committed{}, fmt.Errorf("change password of user %s: %w", in.UserID, err)
	}
	return Committed{Position: pos}, nil
}
