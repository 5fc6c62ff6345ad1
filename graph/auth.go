package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
)

// authCatchUpTimeout bounds the one wait for the read model before an unknown token is refused:
// a token issued a moment ago may not be projected yet.
const authCatchUpTimeout = 2 * time.Second

// Principal is the authenticated caller of a request: an API client, its token and its roles.
type Principal struct {
	ClientID      string
	EnvironmentID string // "" for an organization-wide client
	TokenID       string
	Roles         []domain.RoleAssignment
}

type principalKey struct{}

// PrincipalFrom returns the request's principal; ok is false outside an authenticated request.
func PrincipalFrom(ctx context.Context) (p *Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// authenticate resolves the request's bearer token to a principal, or returns errUnauthenticated
// (never saying which of missing, unknown, revoked or expired it was). An unknown token gets one
// bounded wait for the read model to reach the head of the log.
func (h *handler) authenticate(r *http.Request) (*Principal, error) {
	return h.authenticateHeader(r.Context(), r.Header.Get("Authorization"))
}

// authenticateHeader is authenticate for an Authorization value ("Bearer <token>"), from a
// request's header or a websocket's connection_init payload.
func (h *handler) authenticateHeader(rctx context.Context, authorization string) (*Principal, error) {
	scheme, token, ok := strings.Cut(authorization, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errUnauthenticated
	}
	hash := commands.HashToken(token)
	client, tok, found := h.live().APIClientByTokenHash(hash, h.cfg.Now())
	if !found {
		ctx, cancel := context.WithTimeout(rctx, authCatchUpTimeout)
		err := h.cfg.Runner.CatchUp(ctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return nil, err // the runner failed: not the caller's fault
		}
		if client, tok, found = h.live().APIClientByTokenHash(hash, h.cfg.Now()); !found {
			return nil, errUnauthenticated
		}
	}
	return &Principal{ClientID: client.ID, EnvironmentID: client.EnvironmentID, TokenID: tok.ID, Roles: client.Roles}, nil
}

// actorFor is the commands.Actor of an authenticated request: who, with the request's
// correlation ID and audit context (never the token itself).
func actorFor(r *http.Request, p *Principal) commands.Actor {
	corr := r.Header.Get("X-Request-ID")
	if corr == "" || len(corr) > 128 {
		corr = newRequestID()
	}
	extra := map[string]string{"token": p.TokenID}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		extra["addr"] = host
	}
	if ua := r.UserAgent(); ua != "" {
		if len(ua) > 256 {
			ua = ua[:256]
		}
		extra["ua"] = ua
	}
	return commands.Actor{ID: "apiclient:" + p.ClientID, CorrelationID: corr, Extra: extra}
}

// newRequestID returns a random 128-bit hex ID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
