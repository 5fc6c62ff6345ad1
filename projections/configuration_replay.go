package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	recs, err := ConfigRevisionRecords(ctx, store, reg, env)
	if err != nil {
		return nil, err
	}
	out := make([]domain.ConfigRevision, len(recs))
	for i, r := range recs {
		out[i] = r.ConfigRevision
	}
	return out, nil
}

// ConfigRevisionRecord is a revision with its audit context: when, by whom and at which
// position it was created.
type ConfigRevisionRecord struct {
	domain.ConfigRevision
	CreatedAt     time.Time
	CreatedBy     string
	EventPosition eventstore.Position
}

// ConfigRevisionRecords is ConfigRevisions with each revision's audit context, read from the
// same stream.
func ConfigRevisionRecords(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, env string) ([]ConfigRevisionRecord, error) {
	var out []ConfigRevisionRecord
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
		if rev, ok := p.(domain.ConfigRevisionCreated); ok {
			out = append(out, ConfigRevisionRecord{ConfigRevision: rev, CreatedAt: e.Metadata.OccurredAt,
				CreatedBy: e.Metadata.Actor, EventPosition: e.Position})
		}
	}
	return out, nil
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
