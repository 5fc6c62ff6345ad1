package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// IssueToken issues another bearer token to an API client.
type IssueToken struct {
	ClientID string
	// ExpiresAt bounds the token's life; zero: no expiry. It must be in the future.
	ExpiresAt time.Time
}

// IssueTokenResult names the token; Token is shown once, here, and stored nowhere.
type IssueTokenResult struct {
	TokenID  string
	Token    string
	Position eventstore.Position
}

// IssueTokenHandler handles IssueToken.
type IssueTokenHandler struct{ d *Deps }

// NewIssueToken returns the handler of IssueToken.
func NewIssueToken(d *Deps) *IssueTokenHandler { return &IssueTokenHandler{d: d} }

// Handle appends apiclient.token_issued (the token's SHA-256 only). The client must exist, and
// its environment too for an environment's client (ErrNotFound). Retried on a concurrent change.
func (h *IssueTokenHandler) Handle(ctx context.Context, in IssueToken) (IssueTokenResult, error) {
	token, digest, err := newToken()
	if err != nil {
		return IssueTokenResult{}, err
	}
	tokenID := h.d.NewID()
	var pos eventstore.Position
	err = h.d.changeAPIClient(ctx, in.ClientID, func(c *domain.APIClient) ([]any, error) {
		return c.IssueToken(tokenID, digest, in.ExpiresAt, h.d.Now())
	}, &pos)
	if err != nil {
		return IssueTokenResult{}, fmt.Errorf("issue token: %w", err)
	}
	return IssueTokenResult{TokenID: tokenID, Token: token, Position: pos}, nil
}

// RevokeToken revokes one token of an API client.
type RevokeToken struct {
	ClientID string
	TokenID  string
}

// RevokeTokenHandler handles RevokeToken.
type RevokeTokenHandler struct{ d *Deps }

// NewRevokeToken returns the handler of RevokeToken.
func NewRevokeToken(d *Deps) *RevokeTokenHandler { return &RevokeTokenHandler{d: d} }

// Handle appends apiclient.token_revoked; an unknown token is ErrNotFound on "tokenId", one
// already revoked appends nothing (zero Position).
func (h *RevokeTokenHandler) Handle(ctx context.Context, in RevokeToken) (Committed, error) {
	var out Committed
	err := h.d.changeAPIClient(ctx, in.ClientID, func(c *domain.APIClient) ([]any, error) { return c.RevokeToken(in.TokenID) }, &out.Position)
	return out, wrapOp("revoke token", err)
}

// DeleteAPIClient deletes an API client: its tokens stop authenticating.
type DeleteAPIClient struct {
	ClientID string
}

// DeleteAPIClientHandler handles DeleteAPIClient.
type DeleteAPIClientHandler struct{ d *Deps }

// NewDeleteAPIClient returns the handler of DeleteAPIClient.
func NewDeleteAPIClient(d *Deps) *DeleteAPIClientHandler { return &DeleteAPIClientHandler{d: d} }

// Handle appends apiclient.deleted.
func (h *DeleteAPIClientHandler) Handle(ctx context.Context, in DeleteAPIClient) (Committed, error) {
	var out Committed
	err := h.d.changeAPIClient(ctx, in.ClientID, (*domain.APIClient).Delete, &out.Position)
	return out, wrapOp("delete API client", err)
}

// changeAPIClient loads the client (and checks its environment exists), decides and appends,
// retrying on a revision conflict; pos receives the commit position.
func (d *Deps) changeAPIClient(ctx context.Context, clientID string, decide func(*domain.APIClient) ([]any, error), pos *eventstore.Position) error {
	return retryOnConflict(ctx, func() error {
		c, expected, err := d.loadAPIClient(ctx, "clientId", "", clientID)
		if err != nil {
			return err
		}
		if c.EnvironmentID != "" {
			if _, _, err := d.loadEnvironment(ctx, c.EnvironmentID); err != nil {
				return err
			}
		}
		events, err := decide(c)
		if err != nil {
			return err
		}
		*pos, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryAPIClient, c.ID), expected, c.EnvironmentID, c, events...)
		return err
	})
}
