package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// ConfigurationReplay computes configurations at past positions by replaying the log from its
// start into a throw-away Directory. Its cost grows with the log up to the position; it is the
// plain reference implementation of commands.ConfigurationAt (a snapshot-based time travel
// answers the same, faster). Safe for concurrent use.
type ConfigurationReplay struct {
	Store    eventstore.Store
	Registry *eventstore.Registry
}

// DirectoryAt returns a fresh Directory holding every event up to and including pos.
func (r ConfigurationReplay) DirectoryAt(ctx context.Context, pos eventstore.Position) (*Directory, error) {
	return r.replay(ctx, pos, directoryFilter(), "")
}

// configurationFilter matches the categories a configuration is folded from: no user events.
func configurationFilter() *eventstore.Filter {
	return &eventstore.Filter{EventTypePrefixes: []string{"environment.", "population.", "schema.", "group.", "grouptree."}}
}

// replay folds the events filter matches up to pos, of environment env only when env is set.
func (r ConfigurationReplay) replay(ctx context.Context, pos eventstore.Position, filter *eventstore.Filter, env string) (*Directory, error) {
	d := NewDirectory()
	batch := make([]Change, 0, 1024)
	for e, err := range r.Store.ReadAll(ctx, eventstore.ReadAllOptions{Filter: filter}) {
		if err != nil {
			return nil, fmt.Errorf("projections: replay to %s: %w", pos, err)
		}
		if pos.Less(e.Position) {
			break
		}
		if env != "" && e.Metadata.EnvironmentID != env {
			continue
		}
		payload, err := r.Registry.Decode(e)
		if errors.Is(err, eventstore.ErrUnknownEventType) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("projections: replay to %s: event at %s (%s in %s): %w", pos, e.Position, e.Type, e.Stream, err)
		}
		if batch = append(batch, Change{Position: e.Position, Type: e.Type, Metadata: e.Metadata, Payload: payload}); len(batch) == cap(batch) {
			d.Apply(batch...)
			batch = batch[:0]
		}
	}
	d.Apply(batch...)
	return d, nil
}

// ConfigurationAt returns environment env's configuration at pos (ErrNotFound when it did not
// exist there). It folds only env's configuration events (no user events), so its cost grows
// with the log's length (read and filtered) but decodes only configuration events.
func (r ConfigurationReplay) ConfigurationAt(ctx context.Context, env string, pos eventstore.Position) (domain.Configuration, error) {
	d, err := r.replay(ctx, pos, configurationFilter(), env)
	if err != nil {
		return domain.Configuration{}, err
	}
	return d.Configuration(env)
}

// ConfigRevisions returns environment env's configuration revisions in the order they were
// created, read from their stream (none: an empty list).
func ConfigRevisions(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, env string) ([]domain.ConfigRevision, error) {
	revs := &domain.ConfigRevisions{EnvironmentID: env}
	for e, err := range store.ReadStream(ctx, domain.StreamName(domain.CategoryConfigRevision, env), eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("projections: configuration revisions of %s: %w", env, err)
		}
		p, err := reg.Decode(e)
		if err != nil {
			return nil, fmt.Errorf("projections: configuration revisions of %s: %w", env, err)
		}
		revs.Apply(p)
	}
	return revs.Revisions(), nil
}

// RevisionConfiguration recomputes revision rev's configuration by replay to its position. Its
// hash is rev.ContentHash unless the log was altered. A diff of two revisions is
// DiffConfigurations of their RevisionConfiguration.
func (r ConfigurationReplay) RevisionConfiguration(ctx context.Context, rev domain.ConfigRevision) (domain.Configuration, error) {
	pos, err := eventstore.ParsePosition(rev.Position)
	if err != nil {
		return domain.Configuration{}, fmt.Errorf("projections: revision %s: %w", rev.RevisionID, err)
	}
	return r.ConfigurationAt(ctx, rev.EnvironmentID, pos)
}
