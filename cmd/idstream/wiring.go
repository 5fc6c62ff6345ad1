package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/eventstore/esdb"
	"github.com/idstream/idstream/projections"
)

// eventStoreDir is where, inside the data directory, the embedded event store keeps its files.
const eventStoreDir = "eventstore"

// openEventStore opens the event log cfg names: the embedded store in DataDir/eventstore, or a
// client of EventStoreDB / KurrentDB. Only cmd imports backend packages (see layout_test.go).
func openEventStore(_ context.Context, cfg Config, log *slog.Logger) (eventstore.Store, error) {
	logger := log.With("component", "eventstore")
	if cfg.EventStore == EventStoreEmbedded {
		dir := filepath.Join(cfg.DataDir, eventStoreDir)
		// The backend's errors name the directory and, when another process holds it, the lock.
		store, err := embedded.Open(dir, embedded.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		logger.Info("event store open", "backend", "embedded", "dir", dir)
		return store, nil
	}
	store, err := esdb.New(cfg.EventStore, esdb.Options{})
	if err != nil {
		return nil, fmt.Errorf("event store %s: %w", redact(cfg.EventStore), err)
	}
	logger.Info("event store client ready", "backend", "esdb", "server", redact(cfg.EventStore))
	return store, nil
}

// startPropagationStatus starts the propagation status read model on store (it follows the log
// until ctx ends) and returns once it has caught up with the log as it was at the call.
func startPropagationStatus(ctx context.Context, cfg Config, store eventstore.Store, reg *eventstore.Registry) (*projections.PropagationStatus, error) {
	status, err := projections.NewPropagationStatus(store, reg, projections.StatusOptions{SummaryRetention: cfg.summaryRetention()})
	if err != nil {
		return nil, err
	}
	if err := status.Start(ctx); err != nil {
		return nil, err
	}
	if err := status.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("replay the log into the propagation status: %w", err)
	}
	return status, nil
}

// startPropagationDrift starts the drift read model on store (it follows the log until ctx
// ends) and returns once it has caught up with the log as it was at the call.
func startPropagationDrift(ctx context.Context, store eventstore.Store, reg *eventstore.Registry) (*projections.PropagationDrift, error) {
	d := projections.NewPropagationDrift(store, reg)
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	if err := d.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("replay the log into the propagation drift: %w", err)
	}
	return d, nil
}
