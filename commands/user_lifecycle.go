package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idstream/idstream/domain"
)

// UserRef names a user; it is the input of the lifecycle commands.
type UserRef struct {
	EnvironmentID string
	UserID        string
}

// Lifecycle commands: each appends at most one event, nothing when the user is already in the
// asked state (zero Position). Enable, disable, lock, unlock and move commute with concurrent
// changes, so they reload and retry on a revision conflict; DeleteUser returns the conflict.
type (
	DeleteUser  UserRef
	EnableUser  UserRef
	DisableUser UserRef
	// UnlockUser unlocks the user (reason "ADMIN") and clears its failed password checks.
	UnlockUser UserRef
)

// LockUser locks the user as an administrator (reason ADMIN): until an administrator unlocks
// when Until is zero, else until then.
type LockUser struct {
	EnvironmentID string
	UserID        string
	Until         time.Time
}

// MoveUser moves a user into another population of its environment.
type MoveUser struct {
	EnvironmentID string
	UserID        string
	PopulationID  string
}

// The handlers of the lifecycle commands.
type (
	DeleteUserHandler  struct{ d *Deps }
	EnableUserHandler  struct{ d *Deps }
	DisableUserHandler struct{ d *Deps }
	LockUserHandler    struct{ d *Deps }
	UnlockUserHandler  struct{ d *Deps }
	MoveUserHandler    struct{ d *Deps }
)

// Constructors of the lifecycle handlers.
func NewDeleteUser(d *Deps) *DeleteUserHandler   { return &DeleteUserHandler{d: d} }
func NewEnableUser(d *Deps) *EnableUserHandler   { return &EnableUserHandler{d: d} }
func NewDisableUser(d *Deps) *DisableUserHandler { return &DisableUserHandler{d: d} }
func NewLockUser(d *Deps) *LockUserHandler       { return &LockUserHandler{d: d} }
func NewUnlockUser(d *Deps) *UnlockUserHandler   { return &UnlockUserHandler{d: d} }
func NewMoveUser(d *Deps) *MoveUserHandler       { return &MoveUserHandler{d: d} }

// Handle appends user.deleted and then releases every value the user reserved.
func (h *DeleteUserHandler) Handle(ctx context.Context, in DeleteUser) (Committed, error) {
	d := h.d
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete user: %w", err)
	}
	schema, _, err := d.loadSchema(ctx, env.ID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete user: %w", err)
	}
	u, expected, err := d.loadUser(ctx, env.ID, in.UserID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete user: %w", err)
	}
	claims := userClaims(u.Profile, u.Custom, schema)
	events, err := u.Delete()
	if err != nil {
		return Committed{}, fmt.Errorf("delete user %s: %w", u.ID, err)
	}
	stream := domain.StreamName(domain.CategoryUser, u.ID)
	pos, err := d.appendEvents(ctx, stream, expected, env.ID, u, events...)
	if err != nil {
		return Committed{}, fmt.Errorf("delete user %s: %w", u.ID, err)
	}
	if err := errors.Join(d.releaseAll(ctx, env.ID, stream, claims), d.releaseLinks(ctx, u)); err != nil {
		return Committed{Position: pos}, fmt.Errorf("delete user %s: committed, but releasing its unique values: %w", u.ID, err)
	}
	return Committed{Position: pos}, nil
}

// Handle enables the user.
func (h *EnableUserHandler) Handle(ctx context.Context, in EnableUser) (Committed, error) {
	return h.d.changeUser(ctx, "enable user", UserRef(in), (*domain.User).Enable)
}

// Handle disables the user.
func (h *DisableUserHandler) Handle(ctx context.Context, in DisableUser) (Committed, error) {
	return h.d.changeUser(ctx, "disable user", UserRef(in), (*domain.User).Disable)
}

// Handle locks the user.
func (h *LockUserHandler) Handle(ctx context.Context, in LockUser) (Committed, error) {
	ref := UserRef{EnvironmentID: in.EnvironmentID, UserID: in.UserID}
	return h.d.changeUser(ctx, "lock user", ref, func(u *domain.User) ([]any, error) { return u.LockByAdmin(in.Until, h.d.Now()) })
}

// Handle unlocks the user.
func (h *UnlockUserHandler) Handle(ctx context.Context, in UnlockUser) (Committed, error) {
	return h.d.changeUser(ctx, "unlock user", UserRef(in), (*domain.User).UnlockByAdmin)
}

// Handle moves the user; the population must exist in the environment (ErrNotFound on
// "populationId").
func (h *MoveUserHandler) Handle(ctx context.Context, in MoveUser) (Committed, error) {
	ref := UserRef{EnvironmentID: in.EnvironmentID, UserID: in.UserID}
	pop, _, err := h.d.loadPopulation(ctx, "populationId", in.EnvironmentID, in.PopulationID)
	if err != nil {
		return Committed{}, fmt.Errorf("move user %s: %w", in.UserID, err)
	}
	return h.d.changeUser(ctx, "move user", ref, func(u *domain.User) ([]any, error) { return u.MoveTo(pop) })
}

// changeUser loads the environment and the user, decides and appends, retrying on a revision
// conflict (for decisions that commute).
func (d *Deps) changeUser(ctx context.Context, op string, ref UserRef, decide func(*domain.User) ([]any, error)) (Committed, error) {
	var out Committed
	err := retryOnConflict(ctx, func() error {
		env, _, err := d.loadEnvironment(ctx, ref.EnvironmentID)
		if err != nil {
			return err
		}
		u, expected, err := d.loadUser(ctx, env.ID, ref.UserID)
		if err != nil {
			return err
		}
		events, err := decide(u)
		if err != nil {
			return err
		}
		out.Position, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, env.ID, u, events...)
		return err
	})
	return out, wrapOp(op, err)
}
