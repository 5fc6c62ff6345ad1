package graph

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/model"
)

// importUsers runs commands' ImportUsers (concurrent workers) over the users the caller may
// create: a user of a population outside the caller's write scope is FORBIDDEN in its result
// and never reaches the command. Every user gets a result at its input index; the mutation
// itself fails only when the environment is not the caller's to write or the request ends.
// The payload is returned once the read model has passed the last commit or, for a large
// import, after minPositionTimeout: its position is then the one to wait for.
func (r *Resolver) importUsers(ctx context.Context, input model.ImportUsersInput) (*model.ImportUsersPayload, error) {
	env := input.EnvironmentID
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, domain.ActReadEnvironment, env, ""); err != nil {
		return nil, err
	}
	all, pops := domain.PopulationScope(p.Roles, domain.ActWriteIdentities, env)
	if !all && len(pops) == 0 {
		return nil, domain.Forbiddenf("the API client's roles do not allow %s here", domain.ActWriteIdentities)
	}
	defaultPop, err := r.defaultPopulation(ctx, env)
	if err != nil {
		return nil, err
	}

	out := &model.ImportUsersPayload{Results: make([]*model.ImportUserResult, len(input.Users))}
	var mu sync.Mutex // guards out's results and counts: the command's feeder and its result loop both write
	fail := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		out.Results[i] = &model.ImportUserResult{Index: i, Username: input.Users[i].Username, Error: r.importError(ctx, i, err)}
		out.Failed++
	}
	var sent []int // the input index of each user handed to the command, in order
	users := func(yield func(commands.ImportUser) bool) {
		for i, u := range input.Users {
			pop := deref(u.PopulationID)
			if pop == "" {
				pop = defaultPop
			}
			if !domain.Allowed(p.Roles, domain.ActWriteIdentities, env, pop) {
				fail(i, &domain.FieldError{Field: "populationId", Kind: domain.ErrForbidden,
					Reason: "the API client's roles do not allow creating users in this population"})
				continue
			}
			custom, err := customValues("customAttributes", u.CustomAttributes)
			if err != nil {
				fail(i, err)
				continue
			}
			mu.Lock()
			sent = append(sent, i)
			mu.Unlock()
			if !yield(commands.ImportUser{PopulationID: deref(u.PopulationID), Custom: custom, Enabled: u.Enabled,
				PasswordHash: u.PasswordHash,
				Profile: profileOf(u.Username, u.Email, u.Name, u.Nickname, u.Title, u.PreferredLanguage, u.Locale, u.Timezone,
					u.PrimaryPhone, u.MobilePhone, u.Address, u.ExternalID, u.AccountID, u.Type, u.Photo)}) {
				return
			}
		}
	}
	sum, err := r.cfg.Commands.ImportUsers.Handle(ctx, env, iter.Seq[commands.ImportUser](users), commands.ImportUsersOptions{
		OnResult: func(res commands.ImportUserResult) {
			mu.Lock()
			i := sent[res.Index]
			mu.Unlock()
			if res.Err != nil {
				fail(i, res.Err)
				return
			}
			mu.Lock()
			out.Results[i] = &model.ImportUserResult{Index: i, Username: input.Users[i].Username, UserID: &res.UserID}
			out.Created++
			mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	for i, res := range out.Results {
		if res == nil { // never reported: the command ended early
			return nil, fmt.Errorf("import users: user %d was not reported", i)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, minPositionTimeout)
	defer cancel()
	if err := r.cfg.Runner.WaitFor(wctx, sum.Position); err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	out.Position = sum.Position.String()
	return out, nil
}

// importError presents one user's error as the presenter would a mutation's: its code, its
// message, and its field under input.users[i]. An unexpected error is logged and INTERNAL.
func (r *Resolver) importError(ctx context.Context, i int, err error) *model.ImportError {
	code := codeOf(err)
	if code == "" {
		r.cfg.Log.ErrorContext(ctx, "graphql: importUsers: unexpected error", "index", i, "error", err)
		return &model.ImportError{Code: CodeInternal, Message: internalMessage}
	}
	out := &model.ImportError{Code: code, Message: err.Error()}
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		field := fmt.Sprintf("input.users[%d]", i)
		if f := firstFieldError(err); f != "" {
			field += "." + f
		}
		out.Field = &field
	}
	return out
}
