package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/ldap"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/connectors/propagation"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/connectors/sqlstore"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// propagationDir holds the propagation runtime's forwarder checkpoint, in the data directory.
const propagationDir = "propagation"

// connectorFactories are the connectors this build has, by store type.
func connectorFactories() connectors.Factories {
	f := scim.Factories()
	maps.Copy(f, ldap.Factories())
	maps.Copy(f, sqlstore.Factories())
	return f
}

// propagationPorts are the configuration commands' checks, done by the connectors: mappings
// compile, and a store's configuration is what its connector accepts.
func propagationPorts(sealer *secret.Sealer, f connectors.Factories) commands.PropagationPorts {
	return commands.PropagationPorts{Secrets: sealer, Mappings: mapping.Check, StoreConfig: storeConfigChecker(f)}
}

// storeConfigChecker validates a store's non-secret configuration with its connector's factory.
// Credentials are set apart (and may come later), so the factory's complaints about them are
// left out; the others are the configuration's.
func storeConfigChecker(f connectors.Factories) commands.StoreConfigChecker {
	return func(typ domain.StoreType, config map[string]string) error {
		c, err := f.Open(connectors.StoreConfig{Type: typ, Config: config})
		if err == nil {
			return c.Close()
		}
		var kept []error
		fields := fieldErrors(err)
		for _, fe := range fields {
			if !strings.HasPrefix(fe.Field, "credentials.") {
				kept = append(kept, fe)
			}
		}
		if len(fields) == 0 {
			return domain.Invalidf("config", "%v", err)
		}
		if len(kept) == 0 {
			return nil
		}
		return domain.FieldErrors(kept...)
	}
}

// fieldErrors collects the *domain.FieldError values in err's tree.
func fieldErrors(err error) []*domain.FieldError {
	var out []*domain.FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*domain.FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// storeTester checks a proposed store configuration by opening its connector and asking the
// store (Checker); nothing is saved and nothing written.
type storeTester struct{ factories connectors.Factories }

func (s storeTester) TestStore(ctx context.Context, _ string, typ domain.StoreType, config, credentials map[string]string) error {
	c, err := s.factories.Open(connectors.StoreConfig{Type: typ, Config: config, Credentials: credentials})
	if err != nil {
		return err
	}
	defer c.Close()
	checker, ok := c.(connectors.Checker)
	if !ok {
		return domain.Invalidf("type", "a %s store cannot be tested", typ)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return checker.Check(ctx)
}

// currentDirectory reads whichever read model is current (a rebuild switches it).
type currentDirectory struct{ live readModels }

func (d currentDirectory) User(env, id string) (*projections.User, error) {
	return d.live.Current().User(env, id)
}
func (d currentDirectory) Users(env string, q projections.UserQuery) (projections.UserPage, error) {
	return d.live.Current().Users(env, q)
}
func (d currentDirectory) Group(env, id string) (projections.Group, error) {
	return d.live.Current().Group(env, id)
}
func (d currentDirectory) GroupMembers(env, groupID string, transitive bool) (projections.GroupMembers, error) {
	return d.live.Current().GroupMembers(env, groupID, transitive)
}
func (d currentDirectory) UserGroups(env, userID string, transitive bool) ([]projections.Group, error) {
	return d.live.Current().UserGroups(env, userID, transitive)
}
func (d currentDirectory) Schema(env string) ([]domain.AttributeDef, error) {
	return d.live.Current().Schema(env)
}

// propagator is the API's view of the runtime (graph.Propagator): previews run the
// configuration read model's draft.
type propagator struct {
	rt   *propagation.Runtime
	conf *projections.PropagationConfig
}

var _ graph.Propagator = propagator{}

// apiPropagator is the API's propagator: none (UNAVAILABLE) when this process runs no runtime.
func apiPropagator(rt *propagation.Runtime, conf *projections.PropagationConfig) graph.Propagator {
	if rt == nil {
		return nil
	}
	return propagator{rt: rt, conf: conf}
}

func (p propagator) ProvisionUserNow(ctx context.Context, env, ruleID, userID string) (domain.ProvisionTrace, error) {
	return p.rt.ProvisionUserNow(ctx, env, ruleID, userID)
}

func (p propagator) ResyncRule(ctx context.Context, env, ruleID string) (string, error) {
	return p.rt.Resync(ctx, env, ruleID, propagation.TriggerResync)
}

func (p propagator) ReconcileRule(ctx context.Context, env, ruleID string) (graph.Reconciliation, error) {
	s, err := p.rt.ReconcileRule(ctx, env, ruleID)
	if err != nil {
		return graph.Reconciliation{}, err
	}
	return graph.Reconciliation{ResyncID: s.ResyncID, Identities: s.Identities, Created: s.PropagationResyncFinished.Created,
		Updated: s.Updated, Removed: s.Removed, Failed: s.Failed, Unchanged: s.Unchanged, DriftModified: s.Modified,
		DriftDeleted: s.Deleted, DriftCreated: s.Created, DriftRepaired: s.Repaired}, nil
}

func (p propagator) Preview(ctx context.Context, env string) (domain.PropagationPreview, error) {
	if err := p.conf.CatchUp(ctx); err != nil {
		return domain.PropagationPreview{}, err
	}
	return p.rt.Preview(ctx, env, p.conf.Draft(env))
}

// startPropagation starts the propagation runtime of this process: the forwarder from the log
// (its checkpoint in <data dir>/propagation), the bus cfg.Bus names, the router and its
// connectors. Close it before the event store. With cfg.Propagation "off" there is none (nil).
func startPropagation(ctx context.Context, cfg Config, store eventstore.Store, reg *eventstore.Registry, live readModels,
	conf *projections.PropagationConfig, sealer *secret.Sealer, factories connectors.Factories, metrics prometheus.Registerer,
	log *slog.Logger) (*propagation.Runtime, error) {
	if cfg.Propagation == PropagationOff {
		return nil, nil
	}
	rt, err := propagation.New(propagation.Config{
		Store: store, Registry: reg, Directory: currentDirectory{live}, Runner: live, Revisions: conf,
		Factories: factories,
		OpenCredentials: func(s domain.PropagationStore) (map[string]string, error) {
			return commands.OpenStoreCredentials(sealer, s)
		},
		BusURL:      cfg.Bus,
		Checkpoints: propagation.FileCheckpoints{Dir: filepath.Join(cfg.DataDir, propagationDir)},
		Logger:      log,
		Metrics:     metrics,
		NoForward:   cfg.Propagation == PropagationWorkers,
		// ProbeMax stays 10s unless the interval is longer (the runtime raises it).
		ProbeInterval: cfg.probeInterval(),

		ReconcileInterval: cfg.reconcileInterval(),
	})
	if err != nil {
		return nil, err
	}
	if err := rt.Start(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("start propagation: %w", err), rt.Close())
	}
	return rt, nil
}
