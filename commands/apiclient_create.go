package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreateAPIClient creates an API client with its roles and a first bearer token. EnvironmentID
// "" makes an organization-wide client; an environment's client holds roles of that environment
// only. Role IDs are assigned here (any given are ignored).
type CreateAPIClient struct {
	EnvironmentID string
	Name          string
	Roles         []domain.RoleAssignment
	// TokenExpiresAt bounds the first token's life; zero: no expiry.
	TokenExpiresAt time.Time
}

// CreateAPIClientResult names the client and its first token. Token is the bearer token: it is
// shown once, here, and stored nowhere (the log keeps its SHA-256).
type CreateAPIClientResult struct {
	ClientID string
	TokenID  string
	Token    string
	Position eventstore.Position
}

// CreateAPIClientHandler handles CreateAPIClient.
type CreateAPIClientHandler struct{ d *Deps }

// NewCreateAPIClient returns the handler of CreateAPIClient.
func NewCreateAPIClient(d *Deps) *CreateAPIClientHandler { return &CreateAPIClientHandler{d: d} }

// Handle appends apiclient.created and apiclient.token_issued in one batch. Every environment and
// population the roles name must exist (ErrNotFound naming "roles[i]...").
func (h *CreateAPIClientHandler) Handle(ctx context.Context, in CreateAPIClient) (CreateAPIClientResult, error) {
	d := h.d
	if in.EnvironmentID != "" {
		if _, _, err := d.loadEnvironment(ctx, in.EnvironmentID); err != nil {
			return CreateAPIClientResult{}, fmt.Errorf("create API client: %w", err)
		}
	}
	roles := make([]domain.RoleAssignment, len(in.Roles))
	for i, r := range in.Roles {
		r.ID = d.NewID()
		roles[i] = r
	}
	id := d.NewID()
	created, err := domain.NewAPIClient(in.EnvironmentID, id, in.Name, roles)
	if err != nil {
		return CreateAPIClientResult{}, fmt.Errorf("create API client: %w", err)
	}
	for i, r := range roles {
		if err := d.checkRoleScope(ctx, fmt.Sprintf("roles[%d]", i), r); err != nil {
			return CreateAPIClientResult{}, fmt.Errorf("create API client: %w", err)
		}
	}
	res, err := d.createAPIClient(ctx, created, in.TokenExpiresAt)
	return res, wrapOp("create API client", err)
}

// checkRoleScope checks that the environment and population an assignment names exist.
func (d *Deps) checkRoleScope(ctx context.Context, field string, r domain.RoleAssignment) error {
	if r.EnvironmentID == "" {
		return nil
	}
	if _, _, err := d.loadEnvironment(ctx, r.EnvironmentID); err != nil {
		return &domain.FieldError{Field: field + ".environmentId", Reason: err.Error(), Kind: domain.ErrNotFound}
	}
	if r.PopulationID != "" {
		if _, _, err := d.loadPopulation(ctx, field+".populationId", r.EnvironmentID, r.PopulationID); err != nil {
			return err
		}
	}
	return nil
}

func (d *Deps) createAPIClient(ctx context.Context, created domain.APIClientCreated, expiresAt time.Time) (CreateAPIClientResult, error) {
	token, digest, err := newToken()
	if err != nil {
		return CreateAPIClientResult{}, err
	}
	c := &domain.APIClient{}
	c.Apply(created)
	tokenID := d.NewID()
	issued, err := c.IssueToken(tokenID, digest, expiresAt, d.Now())
	if err != nil {
		return CreateAPIClientResult{}, err
	}
	stream := domain.StreamName(domain.CategoryAPIClient, created.ClientID)
	pos, err := d.appendEvents(ctx, stream, eventstore.NoStream, created.EnvironmentID, nil, append([]any{created}, issued...)...)
	if err != nil {
		return CreateAPIClientResult{}, err
	}
	return CreateAPIClientResult{ClientID: created.ClientID, TokenID: tokenID, Token: token, Position: pos}, nil
}

// BootstrapHandler creates the first administrator of an empty directory.
type BootstrapHandler struct{ d *Deps }

// NewBootstrap returns the bootstrap handler.
func NewBootstrap(d *Deps) *BootstrapHandler { return &BootstrapHandler{d: d} }

// BootstrapClientName is the name of the client Bootstrap creates.
const BootstrapClientName = "bootstrap admin"

// FirstAdminClientID is the ID of the API client HandleFirst creates: a fixed ID, so that of
// several servers starting on one empty log exactly one creates it (its stream is appended with
// NoStream expected) on every backend.
const FirstAdminClientID = "00000000-0000-7000-8000-000000000001"

// Handle creates an organization-wide "bootstrap admin" API client holding ENVIRONMENT_ADMIN
// over every environment, with a new ID, and returns its ID and bearer token (shown once).
// Calling it again creates another such client: it is the offline recovery path. A server
// starting on an empty log calls HandleFirst instead.
func (h *BootstrapHandler) Handle(ctx context.Context) (clientID, token string, pos eventstore.Position, err error) {
	return h.handle(ctx, h.d.NewID())
}

// HandleFirst creates the first administrator, the "bootstrap admin" client with ID
// FirstAdminClientID, as Handle does. When that client exists already (another server
// bootstrapped the same log, maybe at the same instant) it creates nothing and returns created
// false with no error: of any number of concurrent callers exactly one gets created true.
func (h *BootstrapHandler) HandleFirst(ctx context.Context) (token string, pos eventstore.Position, created bool, err error) {
	_, token, pos, err = h.handle(ctx, FirstAdminClientID)
	if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		return "", eventstore.Position{}, false, nil
	}
	return token, pos, err == nil, err
}

func (h *BootstrapHandler) handle(ctx context.Context, id string) (clientID, token string, pos eventstore.Position, err error) {
	d := h.d
	created, err := domain.NewAPIClient("", id, BootstrapClientName,
		[]domain.RoleAssignment{{ID: d.NewID(), Role: domain.RoleEnvironmentAdmin}})
	if err != nil {
		return "", "", eventstore.Position{}, fmt.Errorf("bootstrap: %w", err)
	}
	res, err := d.createAPIClient(WithActor(ctx, Actor{ID: "system:bootstrap"}), created, time.Time{})
	if err != nil {
		return "", "", eventstore.Position{}, fmt.Errorf("bootstrap: %w", err)
	}
	return res.ClientID, res.Token, res.Position, nil
}
