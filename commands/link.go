package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// LinkAccount links a user to a subject of an external identity provider. A (provider,
// subject) pair is linked to at most one user per environment.
type LinkAccount struct {
	EnvironmentID    string
	UserID           string
	IdentityProvider string
	Subject          string
}

// LinkAccountResult is the link.
type LinkAccountResult struct {
	Link     domain.LinkedAccount
	Position eventstore.Position
}

// LinkAccountHandler handles LinkAccount.
type LinkAccountHandler struct{ d *Deps }

// NewLinkAccount returns the handler of LinkAccount.
func NewLinkAccount(d *Deps) *LinkAccountHandler { return &LinkAccountHandler{d: d} }

// Handle reserves the pair (kind domain.UniqueLinkedAcct; a pair linked to another user is a
// *domain.FieldError of kind ErrConflict on "subject"), then appends user.account_linked. A pair
// the user already has appends nothing and returns that link (zero Position). The reservation
// is released when the append fails.
func (h *LinkAccountHandler) Handle(ctx context.Context, in LinkAccount) (LinkAccountResult, error) {
	var out LinkAccountResult
	u, _, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
	if err != nil {
		return out, fmt.Errorf("link account to user %s: %w", in.UserID, err)
	}
	linkID := h.d.NewID()
	ev, existing, changed, err := u.LinkAccount(linkID, in.IdentityProvider, in.Subject)
	if err != nil || !changed {
		if err != nil {
			return out, fmt.Errorf("link account to user %s: %w", in.UserID, err)
		}
		out.Link = linkOf(u, existing)
		return out, nil
	}
	owner := domain.StreamName(domain.CategoryUser, u.ID)
	value := domain.LinkedAccountValue(ev.IdentityProvider, ev.Subject)
	holds := h.d.userHoldsLink(ev.IdentityProvider, ev.Subject)
	if err := h.d.claim(ctx, u.EnvironmentID, domain.UniqueLinkedAcct, "subject", value, owner, holds); err != nil {
		return out, fmt.Errorf("link account to user %s: %w", in.UserID, err)
	}
	err = retryOnConflict(ctx, func() error {
		u, expected, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
		if err != nil {
			return err
		}
		ev, existing, changed, err := u.LinkAccount(linkID, in.IdentityProvider, in.Subject)
		if err == nil && changed {
			out.Position, err = h.d.appendEvents(ctx, owner, expected, u.EnvironmentID, u, ev)
		}
		out.Link = linkOf(u, existing)
		return err
	})
	if err != nil {
		// Release unless the user holds the pair after all (linked by a concurrent request).
		rctx := context.WithoutCancel(ctx)
		if held, herr := holds(rctx, owner); herr != nil {
			err = errors.Join(err, herr)
		} else if !held {
			if rerr := h.d.release(rctx, in.EnvironmentID, domain.UniqueLinkedAcct, value, owner); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return LinkAccountResult{}, fmt.Errorf("link account to user %s: %w", in.UserID, err)
	}
	return out, nil
}

// UnlinkAccount removes a link.
type UnlinkAccount struct {
	EnvironmentID string
	UserID        string
	LinkID        string
}

// UnlinkAccountHandler handles UnlinkAccount.
type UnlinkAccountHandler struct{ d *Deps }

// NewUnlinkAccount returns the handler of UnlinkAccount.
func NewUnlinkAccount(d *Deps) *UnlinkAccountHandler { return &UnlinkAccountHandler{d: d} }

// Handle appends user.account_unlinked, then releases the pair's reservation. An unknown link
// is ErrNotFound. When the release fails after the append, the error says so with the
// Position of the committed unlink; the pair's next claimant takes the stale reservation over.
func (h *UnlinkAccountHandler) Handle(ctx context.Context, in UnlinkAccount) (Committed, error) {
	var (
		out  Committed
		link domain.LinkedAccount
	)
	err := retryOnConflict(ctx, func() error {
		u, expected, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
		if err != nil {
			return err
		}
		var ev domain.UserAccountUnlinked
		if ev, link, err = u.UnlinkAccount(in.LinkID); err != nil {
			return err
		}
		out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, u.EnvironmentID, nil, ev)
		return err
	})
	if err != nil {
		return Committed{}, fmt.Errorf("unlink account %s: %w", in.LinkID, err)
	}
	owner := domain.StreamName(domain.CategoryUser, in.UserID)
	value := domain.LinkedAccountValue(link.IdentityProvider, link.Subject)
	holds := h.d.userHoldsLink(link.IdentityProvider, link.Subject)
	if err := h.d.releaseUnheld(ctx, in.EnvironmentID, domain.UniqueLinkedAcct, value, owner, holds); err != nil {
		return out, fmt.Errorf("unlink account %s: unlinked, but its reservation was not released: %w", in.LinkID, err)
	}
	return out, nil
}

// userHoldsLink is the holds check of linked-account reservations: the owner user exists and
// is linked to the pair.
func (d *Deps) userHoldsLink(provider, subject string) holdsFunc {
	return func(ctx context.Context, owner string) (bool, error) {
		u := &domain.User{}
		if _, err := d.load(ctx, owner, u); err != nil {
			return false, err
		}
		_, found := u.Link(provider, subject)
		return u.Exists && found, nil
	}
}

// releaseLinks releases the reservations of every account linked to u: the user commands call
// it after appending user.deleted.
func (d *Deps) releaseLinks(ctx context.Context, u *domain.User) error {
	owner := domain.StreamName(domain.CategoryUser, u.ID)
	var errs []error
	for _, l := range u.Links {
		if err := d.release(ctx, u.EnvironmentID, domain.UniqueLinkedAcct, domain.LinkedAccountValue(l.IdentityProvider, l.Subject), owner); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release linked accounts of user %s: %w", u.ID, err)
	}
	return nil
}

func linkOf(u *domain.User, id string) domain.LinkedAccount {
	for _, l := range u.Links {
		if l.ID == id {
			return l
		}
	}
	return domain.LinkedAccount{}
}
