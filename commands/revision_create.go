package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// ConfigurationAt computes an environment's configuration at a log position by replaying the
// log up to it (time travel; projections implement it). Commands may not read read models, so
// the revision commands take this port. It answers domain.ErrNotFound when the environment
// does not exist at pos.
type ConfigurationAt interface {
	ConfigurationAt(ctx context.Context, envID string, pos eventstore.Position) (domain.Configuration, error)
}

// CreateConfigRevision names the environment's configuration at Position (the zero Position:
// the log's head now).
type CreateConfigRevision struct {
	EnvironmentID string
	Name          string
	Description   string
	Position      eventstore.Position
}

// CreateConfigRevisionResult names the revision created.
type CreateConfigRevisionResult struct {
	Revision domain.ConfigRevision
	Position eventstore.Position
}

// CreateConfigRevisionHandler handles CreateConfigRevision.
type CreateConfigRevisionHandler struct {
	d       *Deps
	configs ConfigurationAt
}

// NewCreateConfigRevision returns the handler of CreateConfigRevision; configs computes the
// configuration whose hash the revision records.
func NewCreateConfigRevision(d *Deps, configs ConfigurationAt) *CreateConfigRevisionHandler {
	return &CreateConfigRevisionHandler{d: d, configs: configs}
}

// Handle hashes the environment's configuration at the position and appends
// configuration.revision_created to configrevision-<environment>, chained to the previous
// revision. A position after the log's head is ErrInvalid on "input.position", as is one where
// the environment did not exist yet; a name taken (any case) is ErrConflict on "input.name".
// Creations commute: a concurrent one is reloaded and decided again (names stay unique).
func (h *CreateConfigRevisionHandler) Handle(ctx context.Context, in CreateConfigRevision) (CreateConfigRevisionResult, error) {
	d := h.d
	if h.configs == nil {
		return CreateConfigRevisionResult{}, errNoConfigurations("create configuration revision")
	}
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return CreateConfigRevisionResult{}, fmt.Errorf("create configuration revision: %w", err)
	}
	head, err := d.head(ctx)
	if err != nil {
		return CreateConfigRevisionResult{}, fmt.Errorf("create configuration revision: %w", err)
	}
	pos := in.Position
	switch {
	case pos.IsZero():
		pos = head
	case head.Less(pos):
		return CreateConfigRevisionResult{}, fmt.Errorf("create configuration revision: %w",
			domain.Invalidf("input.position", "%s is after the log's head %s", pos, head))
	}
	conf, err := h.configs.ConfigurationAt(ctx, env.ID, pos)
	if errors.Is(err, domain.ErrNotFound) {
		err = domain.Invalidf("input.position", "environment %s did not exist at %s", env.ID, pos)
	}
	if err != nil {
		return CreateConfigRevisionResult{}, fmt.Errorf("create configuration revision: configuration at %s: %w", pos, err)
	}
	hash := conf.Hash()
	id := d.NewID()
	var out CreateConfigRevisionResult
	err = retryOnConflict(ctx, func() error {
		revs, expected, err := d.loadConfigRevisions(ctx, env.ID)
		if err != nil {
			return err
		}
		events, err := revs.Create(env.ID, id, in.Name, in.Description, pos.String(), hash)
		if err != nil {
			return err
		}
		out.Revision = events[0].(domain.ConfigRevisionCreated)
		out.Position, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryConfigRevision, env.ID), expected, env.ID, revs, events...)
		return err
	})
	if err != nil {
		return CreateConfigRevisionResult{}, fmt.Errorf("create configuration revision: %w", err)
	}
	return out, nil
}

// errNoConfigurations is the answer of the revision commands when no ConfigurationAt was wired.
func errNoConfigurations(op string) error {
	return fmt.Errorf("%s: %w: no configuration source is wired (DirectoryPorts.Configurations)", op, domain.ErrUnavailable)
}

// loadConfigRevisions folds the configuration revisions of environment envID.
func (d *Deps) loadConfigRevisions(ctx context.Context, envID string) (*domain.ConfigRevisions, eventstore.ExpectedRevision, error) {
	r := &domain.ConfigRevisions{EnvironmentID: envID}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryConfigRevision, envID), r)
	return r, expected, err
}

// head returns the position of the log's last event (zero for an empty log).
func (d *Deps) head(ctx context.Context) (eventstore.Position, error) {
	for ev, err := range d.Store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}) {
		if err != nil {
			return eventstore.Position{}, storeError("read the log's head", err)
		}
		return ev.Position, nil
	}
	return eventstore.Position{}, nil
}
