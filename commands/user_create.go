package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// PasswordHasher hashes and checks passwords for the user commands (commands/password
// implements it).
type PasswordHasher interface {
	// Hash checks plain against the environment's policy for this user and returns an argon2id PHC hash.
	Hash(policy domain.PasswordPolicy, username, plain string) (string, error)
	// CheckImported validates the format of an imported hash (bcrypt, argon2id, PBKDF2-SHA256, salted SHA).
	CheckImported(hash string) error
}

// CreateUser creates a user. PopulationID "" is the environment's default population; Enabled
// nil is true. At most one of Password (plain, checked against the environment's policy and
// hashed) and PasswordHash (imported as is) may be set.
type CreateUser struct {
	EnvironmentID      string
	PopulationID       string
	Profile            domain.Profile
	Custom             domain.CustomValues
	Enabled            *bool
	Password           *string
	PasswordHash       *string
	MustChangePassword bool
}

// CreateUserResult names the user created.
type CreateUserResult struct {
	UserID   string
	Position eventstore.Position
}

// CreateUserHandler handles CreateUser.
type CreateUserHandler struct {
	d      *Deps
	hasher PasswordHasher
}

// NewCreateUser returns the handler of CreateUser.
func NewCreateUser(d *Deps, hasher PasswordHasher) *CreateUserHandler {
	return &CreateUserHandler{d: d, hasher: hasher}
}

// Handle validates everything at once (every problem of the profile, custom attributes and
// password joined), reserves username, email, externalId and unique custom values (every value
// taken is an ErrConflict naming its field), then appends user.created, with user.password_set
// when a password is given, in one batch. Reservations are released when the append fails.
func (h *CreateUserHandler) Handle(ctx context.Context, in CreateUser) (CreateUserResult, error) {
	scope, err := h.d.userScope(ctx, in.EnvironmentID)
	if err != nil {
		return CreateUserResult{}, fmt.Errorf("create user: %w", err)
	}
	return h.d.createUser(ctx, scope, h.hasher, in)
}

// userScope is what creating users of an environment reads once: the environment, its schema,
// and its populations as they are asked for. Safe for concurrent use.
type userScope struct {
	env    *domain.Environment
	schema *domain.Schema
	mu     sync.Mutex
	pops   map[string]*domain.Population
}

func (d *Deps) userScope(ctx context.Context, envID string) (*userScope, error) {
	env, _, err := d.loadEnvironment(ctx, envID)
	if err != nil {
		return nil, err
	}
	schema, _, err := d.loadSchema(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	return &userScope{env: env, schema: schema, pops: map[string]*domain.Population{}}, nil
}

// population returns population id ("" for the default) of the scope's environment.
func (s *userScope) population(ctx context.Context, d *Deps, id string) (*domain.Population, error) {
	if id == "" {
		id = s.env.DefaultPopulationID
	}
	s.mu.Lock()
	p := s.pops[id]
	s.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, _, err := d.loadPopulation(ctx, "populationId", s.env.ID, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.pops[id] = p
	s.mu.Unlock()
	return p, nil
}

func (d *Deps) createUser(ctx context.Context, scope *userScope, hasher PasswordHasher, in CreateUser) (CreateUserResult, error) {
	env := scope.env
	id := d.NewID()
	profile := domain.NormalizeProfile(in.Profile)
	custom, cerr := domain.NormalizeCustom(in.Custom)
	pop, perr := scope.population(ctx, d, in.PopulationID)
	if perr != nil && !errors.Is(perr, domain.ErrNotFound) {
		return CreateUserResult{}, fmt.Errorf("create user: %w", perr)
	}
	enabled := in.Enabled == nil || *in.Enabled
	popID := ""
	if pop != nil {
		popID = pop.ID
	}
	created, verr := domain.NewUser(env.ID, id, popID, profile, custom, enabled, scope.schema)
	var pwd *domain.UserPasswordSet
	var pwerr error
	switch {
	case in.Password != nil && in.PasswordHash != nil:
		pwerr = domain.Invalidf("passwordHash", "give a password or a password hash, not both")
	case in.Password != nil:
		hash, err := hasher.Hash(env.PasswordPolicy, profile.Username, *in.Password)
		pwerr = err
		pwd = &domain.UserPasswordSet{EnvironmentID: env.ID, UserID: id, Hash: hash, MustChange: in.MustChangePassword}
	case in.PasswordHash != nil:
		pwerr = hasher.CheckImported(*in.PasswordHash)
		pwd = &domain.UserPasswordSet{EnvironmentID: env.ID, UserID: id, Hash: *in.PasswordHash, MustChange: in.MustChangePassword, Imported: true}
	}
	if err := errors.Join(perr, cerr, verr, pwerr); err != nil {
		return CreateUserResult{}, fmt.Errorf("create user: %w", err)
	}
	stream := domain.StreamName(domain.CategoryUser, id)
	claims := userClaims(profile, custom, scope.schema)
	if err := d.claimAll(ctx, env.ID, stream, claims); err != nil {
		return CreateUserResult{}, fmt.Errorf("create user: %w", err)
	}
	events := []any{created}
	if pwd != nil {
		events = append(events, *pwd)
	}
	pos, err := d.appendEvents(ctx, stream, eventstore.NoStream, env.ID, nil, events...)
	if err != nil {
		d.releaseAll(context.WithoutCancel(ctx), env.ID, stream, claims)
		return CreateUserResult{}, fmt.Errorf("create user: %w", err)
	}
	return CreateUserResult{UserID: id, Position: pos}, nil
}

// uniqueClaim is one value a user reserves in its environment.
type uniqueClaim struct{ kind, field, value string }

// userClaims lists the values a user with this profile and custom values reserves: username,
// email, externalId and every unique custom attribute's value.
func userClaims(p domain.Profile, custom domain.CustomValues, s *domain.Schema) []uniqueClaim {
	claims := []uniqueClaim{{domain.UniqueUsername, "username", p.Username}}
	if p.Email != "" {
		claims = append(claims, uniqueClaim{domain.UniqueEmail, "email", p.Email})
	}
	if p.ExternalID != "" {
		claims = append(claims, uniqueClaim{domain.UniqueExternalID, "externalId", p.ExternalID})
	}
	for _, def := range s.UniqueAttributes() {
		if v := domain.UniqueValue(def, custom); v != "" {
			claims = append(claims, uniqueClaim{domain.UniqueCustomPrefix + strings.ToLower(def.Name), "customAttributes." + def.Name, v})
		}
	}
	return claims
}

// claimAll reserves every claim for owner, concurrently. When any fails, the others are
// released and every failure comes back joined (each taken value an ErrConflict naming its
// field).
func (d *Deps) claimAll(ctx context.Context, env, owner string, claims []uniqueClaim) error {
	errs := make([]error, len(claims))
	if len(claims) == 1 {
		errs[0] = d.claim(ctx, env, claims[0].kind, claims[0].field, claims[0].value, owner, d.userHolds(claims[0].kind, claims[0].value))
	} else {
		var wg sync.WaitGroup
		for i, c := range claims {
			wg.Go(func() { errs[i] = d.claim(ctx, env, c.kind, c.field, c.value, owner, d.userHolds(c.kind, c.value)) })
		}
		wg.Wait()
	}
	err := errors.Join(errs...)
	if err != nil {
		var won []uniqueClaim
		for i, c := range claims {
			if errs[i] == nil {
				won = append(won, c)
			}
		}
		d.releaseAll(context.WithoutCancel(ctx), env, owner, won)
	}
	return err
}

// releaseAll gives up owner's claims but those the user holds after all (releaseUnheld), best
// effort: a claim left behind is an orphan that the next claimant takes over after the grace
// period.
func (d *Deps) releaseAll(ctx context.Context, env, owner string, claims []uniqueClaim) error {
	var errs []error
	for _, c := range claims {
		errs = append(errs, d.releaseUnheld(ctx, env, c.kind, c.value, owner, d.userHolds(c.kind, c.value)))
	}
	return errors.Join(errs...)
}

// userHolds is the holds check of user reservations: the owner user exists and its value of the
// claim's kind is value (compared normalized).
func (d *Deps) userHolds(kind, value string) holdsFunc {
	want := NormalizeUnique(value)
	return func(ctx context.Context, owner string) (bool, error) {
		u := &domain.User{}
		if _, err := d.load(ctx, owner, u); err != nil {
			return false, err
		}
		if !u.Exists {
			return false, nil
		}
		switch kind {
		case domain.UniqueUsername:
			return NormalizeUnique(u.Profile.Username) == want, nil
		case domain.UniqueEmail:
			return NormalizeUnique(u.Profile.Email) == want, nil
		case domain.UniqueExternalID:
			return NormalizeUnique(u.Profile.ExternalID) == want, nil
		}
		name := strings.TrimPrefix(kind, domain.UniqueCustomPrefix)
		for k, raw := range u.Custom {
			var v string
			if strings.EqualFold(k, name) && json.Unmarshal(raw, &v) == nil && NormalizeUnique(v) == want {
				return true, nil
			}
		}
		return false, nil
	}
}
