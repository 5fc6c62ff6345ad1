package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// Helpers of the mutation resolvers: authorization of changes to existing users, reading the
// changed object back once the read model has passed the commit, and translating command field
// paths into the input's.

// renameFields rewrites, in place, the Field of every *domain.FieldError in err's tree with
// rename, and returns err. Commands return fresh error values per call, so the rewrite touches
// nothing shared. The message keeps the command's wording; extensions.field is the input's path.
func renameFields(err error, rename func(string) string) error {
	eachFieldError(err, func(fe *domain.FieldError) { fe.Field = rename(fe.Field) })
	return err
}

func eachFieldError(err error, f func(*domain.FieldError)) {
	for err != nil {
		if fe, ok := err.(*domain.FieldError); ok {
			f(fe)
			return
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				eachFieldError(e, f)
			}
			return
		}
		err = errors.Unwrap(err)
	}
}

// fields returns a rename of command field paths to input field paths: pairs of (from, to); a
// from ending in "." or "[" renames that prefix, any other renames an exact path. Paths that
// match nothing keep their name.
func fields(pairs ...string) func(string) string {
	return func(f string) string {
		for i := 0; i+1 < len(pairs); i += 2 {
			from, to := pairs[i], pairs[i+1]
			if strings.HasSuffix(from, ".") || strings.HasSuffix(from, "[") {
				if rest, ok := strings.CutPrefix(f, from); ok {
					return to + rest
				}
			} else if f == from {
				return to
			}
		}
		return f
	}
}

// userIDField renames the commands' "userId" to the "id" of user inputs.
var userIDField = fields("userId", "id")

// firstFieldError returns the field of the first *domain.FieldError in err's tree, "" when none.
func firstFieldError(err error) string {
	field := ""
	eachFieldError(err, func(fe *domain.FieldError) {
		if field == "" {
			field = fe.Field
		}
	})
	return field
}

// lookupUser reads user id of env from the read model, catching up once (bounded) when it is
// not there: a user created a moment ago by another request may not be projected yet.
func (r *Resolver) lookupUser(ctx context.Context, env, id string) (*projections.User, error) {
	u, err := r.rm(ctx).User(env, id)
	if errors.Is(err, domain.ErrNotFound) {
		cctx, cancel := context.WithTimeout(ctx, authCatchUpTimeout)
		cerr := r.cfg.Runner.CatchUp(cctx)
		cancel()
		if cerr != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		u, err = r.rm(ctx).User(env, id)
	}
	return u, err
}

// authorizeUserChange checks that the caller may do act on existing user id of env, within the
// user's population: NOT_FOUND for an environment or a user the caller does not see (or that does
// not exist), FORBIDDEN for one it sees but may not change. The population is read from the read
// model; a concurrent move is not seen.
func (r *Resolver) authorizeUserChange(ctx context.Context, act domain.Action, env, id string) (*projections.User, error) {
	if err := authorize(ctx, domain.ActReadEnvironment, env, ""); err != nil {
		return nil, err
	}
	u, err := r.lookupUser(ctx, env, id)
	if err != nil {
		return nil, err
	}
	if err := authorizeUser(ctx, act, env, u.PopulationID, id); err != nil {
		return nil, err
	}
	return u, nil
}

// defaultPopulation returns env's default population, from the read model.
func (r *Resolver) defaultPopulation(ctx context.Context, env string) (string, error) {
	e, err := r.rm(ctx).Environment(env)
	if err != nil {
		return "", err
	}
	return e.DefaultPopulationID, nil
}

// authorizeNewUser checks that the caller may create a user in population pop of env ("" for
// the environment's default population).
func (r *Resolver) authorizeNewUser(ctx context.Context, env, pop string) error {
	if err := authorize(ctx, domain.ActReadEnvironment, env, ""); err != nil {
		return err
	}
	if pop == "" {
		var err error
		if pop, err = r.defaultPopulation(ctx, env); err != nil {
			return err
		}
	}
	return authorize(ctx, domain.ActWriteIdentities, env, pop)
}

// userPayload reads user id of env once the read model has passed pos.
func (r *Resolver) userPayload(ctx context.Context, env, id string, pos eventstore.Position) (*model.UserPayload, error) {
	if err := r.await(ctx, pos); err != nil {
		return nil, err
	}
	u, err := r.rm(ctx).User(env, id)
	if err != nil {
		return nil, err
	}
	return &model.UserPayload{User: toUser(u), Position: pos.String()}, nil
}

// deletePayload answers a deletion once the read model has passed pos.
func (r *Resolver) deletePayload(ctx context.Context, id string, pos eventstore.Position) (*model.DeletePayload, error) {
	if err := r.await(ctx, pos); err != nil {
		return nil, err
	}
	return &model.DeletePayload{ID: id, Position: pos.String()}, nil
}

// customValues converts a customAttributes JSON value (absent or null: none) into command
// values; anything but a JSON object is INVALID on field.
func customValues(field string, j model.JSON) (domain.CustomValues, error) {
	if len(j) == 0 || string(j) == "null" {
		return nil, nil
	}
	var out domain.CustomValues
	if err := json.Unmarshal(j, &out); err != nil {
		return nil, domain.Invalidf(field, "must be a JSON object keyed by attribute name")
	}
	return out, nil
}

// profileOf builds a core profile from the fields shared by user inputs.
func profileOf(username string, email *string, name *model.NameInput, nickname, title, preferredLanguage, locale, timezone,
	primaryPhone, mobilePhone *string, address *model.AddressInput, externalID, accountID, typ, photo *string) domain.Profile {
	p := domain.Profile{Username: username, Email: deref(email), Nickname: deref(nickname), Title: deref(title),
		PreferredLanguage: deref(preferredLanguage), Locale: deref(locale), Timezone: deref(timezone),
		PrimaryPhone: deref(primaryPhone), MobilePhone: deref(mobilePhone), ExternalID: deref(externalID),
		AccountID: deref(accountID), Type: deref(typ), Photo: deref(photo)}
	if name != nil {
		p.Name = domain.Name{Formatted: deref(name.Formatted), Given: deref(name.Given), Middle: deref(name.Middle),
			Family: deref(name.Family), HonorificPrefix: deref(name.HonorificPrefix), HonorificSuffix: deref(name.HonorificSuffix)}
	}
	if address != nil {
		p.Address = domain.Address{StreetAddress: deref(address.StreetAddress), Locality: deref(address.Locality),
			Region: deref(address.Region), PostalCode: deref(address.PostalCode), CountryCode: deref(address.CountryCode)}
	}
	return p
}

// patchProfileKeys are PatchUserInput's scalar profile fields; name and address are objects
// whose members are "name.<member>" and "address.<member>".
var patchProfileKeys = []string{"username", "email", "nickname", "title", "preferredLanguage", "locale", "timezone",
	"primaryPhone", "mobilePhone", "externalId", "accountId", "type", "photo"}

// patchOf converts a PatchUserInput, as the request spelled it (raw: every member given, null
// included), into the profile paths and custom values to change. gqlgen has already checked
// the input's types.
func patchOf(raw map[string]any) (profile map[string]string, custom domain.CustomValues, err error) {
	profile = map[string]string{}
	str := func(v any) string { s, _ := v.(string); return s }
	for _, k := range patchProfileKeys {
		if v, ok := raw[k]; ok {
			profile[k] = str(v)
		}
	}
	for _, obj := range []string{"name", "address"} {
		v, ok := raw[obj]
		if !ok {
			continue
		}
		m, _ := v.(map[string]any)
		if m == nil { // null: clear every member
			for _, p := range domain.CoreAttributePaths() {
				if strings.HasPrefix(p, obj+".") {
					profile[p] = ""
				}
			}
			continue
		}
		for member, mv := range m {
			profile[obj+"."+member] = str(mv)
		}
	}
	if v, ok := raw["customAttributes"]; ok && v != nil {
		b, merr := json.Marshal(v)
		if merr != nil {
			return nil, nil, domain.Invalidf("customAttributes", "is not JSON")
		}
		if custom, err = customValues("customAttributes", b); err != nil {
			return nil, nil, err
		}
	}
	return profile, custom, nil
}

// idArg returns a string member of a raw input, "" when absent.
func idArg(raw map[string]any, key string) string {
	s, _ := raw[key].(string)
	return s
}

// allActions are every action a role may grant, for the reach check of role grants.
var allActions = []domain.Action{domain.ActCreateEnvironment, domain.ActManageEnvironment, domain.ActReadEnvironment,
	domain.ActReadIdentities, domain.ActWriteIdentities, domain.ActReadAudit}

// withinReach checks that the caller holds everything assignment a would grant: every action a
// allows in its own scope, the caller must be allowed in that scope too. A caller cannot mint a
// role it does not hold itself (FORBIDDEN naming field).
func withinReach(ctx context.Context, field string, a domain.RoleAssignment) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	grant := []domain.RoleAssignment{a}
	for _, act := range allActions {
		if domain.Allowed(grant, act, a.EnvironmentID, a.PopulationID) && !domain.Allowed(p.Roles, act, a.EnvironmentID, a.PopulationID) {
			return &domain.FieldError{Field: field, Kind: domain.ErrForbidden,
				Reason: fmt.Sprintf("the caller cannot grant %s here: it does not hold %s in that scope itself", a.Role, act)}
		}
	}
	return nil
}

// rawInput returns the mutation's input argument as the request spelled it (variables
// substituted): members given as null are present with a nil value. nil outside a field.
func rawInput(ctx context.Context) map[string]any {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil {
		return nil
	}
	var vars map[string]any
	if graphql.HasOperationContext(ctx) {
		vars = graphql.GetOperationContext(ctx).Variables
	}
	m, _ := fc.Field.ArgumentMap(vars)["input"].(map[string]any)
	return m
}

// userLifecycle authorizes a change of user id, runs it and reads the user back.
func (r *Resolver) userLifecycle(ctx context.Context, env, id string, run func(commands.UserRef) (commands.Committed, error)) (*model.UserPayload, error) {
	if _, err := r.authorizeUserChange(ctx, domain.ActWriteIdentities, env, id); err != nil {
		return nil, err
	}
	res, err := run(commands.UserRef{EnvironmentID: env, UserID: id})
	if err != nil {
		return nil, renameFields(err, userIDField)
	}
	return r.userPayload(ctx, env, id, res.Position)
}

// populationPayload reads population id of env once the read model has passed pos.
func (r *Resolver) populationPayload(ctx context.Context, env, id string, pos eventstore.Position) (*model.PopulationPayload, error) {
	if err := r.await(ctx, pos); err != nil {
		return nil, err
	}
	p, err := r.rm(ctx).Population(env, id)
	if err != nil {
		return nil, err
	}
	return &model.PopulationPayload{Population: toPopulation(&p), Position: pos.String()}, nil
}

// attributeDef converts a SchemaAttributeInput.
func attributeDef(in *model.SchemaAttributeInput) domain.AttributeDef {
	if in == nil {
		return domain.AttributeDef{}
	}
	def := domain.AttributeDef{Name: in.Name, DisplayName: deref(in.DisplayName), Description: deref(in.Description),
		Type: domain.AttributeType(in.Type), Enum: in.Enum, Regex: deref(in.Regex)}
	def.Required = in.Required != nil && *in.Required
	def.Unique = in.Unique != nil && *in.Unique
	def.MultiValued = in.MultiValued != nil && *in.MultiValued
	if in.MaxLength != nil {
		def.MaxLength = *in.MaxLength
	}
	return def
}

// attributeField puts the schema commands' attribute field paths under "attribute.".
func attributeField(f string) string {
	if f == "environmentId" {
		return f
	}
	return "attribute." + f
}

// attributePayload reads attribute name of env's schema once the read model has passed pos.
func (r *Resolver) attributePayload(ctx context.Context, env, name string, pos eventstore.Position) (*model.SchemaAttributePayload, error) {
	if err := r.await(ctx, pos); err != nil {
		return nil, err
	}
	attrs, err := r.rm(ctx).Schema(env)
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return &model.SchemaAttributePayload{EnvironmentID: env, Attribute: toAttribute(a), Position: pos.String()}, nil
		}
	}
	return nil, domain.NotFoundf("attribute %s", name)
}

// groupPayload reads group id of env once the read model has passed pos.
func (r *Resolver) groupPayload(ctx context.Context, env, id string, pos eventstore.Position) (*model.GroupPayload, error) {
	if err := r.await(ctx, pos); err != nil {
		return nil, err
	}
	g, err := r.rm(ctx).Group(env, id)
	if err != nil {
		return nil, err
	}
	return &model.GroupPayload{Group: toGroup(&g), Position: pos.String()}, nil
}

// authorizeClient checks that the caller may manage API client id: ActManageEnvironment on the
// client's own environment (the organization for an organization-wide client), or, with self,
// the client is the caller. A client the caller does not see, or of another environment than
// env (when given), is NOT_FOUND.
func (r *Resolver) authorizeClient(ctx context.Context, env *string, id string, self bool) (*projections.APIClient, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.rm(ctx).APIClient(id)
	if err != nil {
		return nil, err
	}
	notFound := domain.NotFoundf("API client %s", id)
	if env != nil && *env != c.EnvironmentID {
		return nil, notFound
	}
	if self && c.ID == p.ClientID {
		return &c, nil
	}
	if c.EnvironmentID == "" {
		if !domain.Allowed(p.Roles, domain.ActManageEnvironment, "", "") {
			return nil, notFound
		}
		return &c, nil
	}
	if !domain.Sees(p.Roles, c.EnvironmentID) {
		return nil, notFound
	}
	return &c, authorize(ctx, domain.ActManageEnvironment, c.EnvironmentID, "")
}
