package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// TestServedPropagationStatus: the served API answers propagation status from the log, at a
// position; the runtime mutations are UNAVAILABLE until a runtime is wired.
func TestServedPropagationStatus(t *testing.T) {
	t.Parallel()
	store := openEmbedded(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir() // removed after the app stopped (cleanups run last first)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := buildApp(ctx, cfg, store, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stopPropagation(log) })
	if err := a.bootstrap(ctx, cfg.DataDir, io.Discard, log); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(cfg.DataDir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.api)
	t.Cleanup(srv.Close)
	c := newGQLClient(srv.URL, strings.TrimSpace(string(raw)))
	var env struct {
		CreateEnvironment struct{ Environment struct{ ID string } } `json:"createEnvironment"`
	}
	gql(t, c, `mutation { createEnvironment(input: {name: "Prop"}) { environment { id } position } }`, nil, &env)
	envID := env.CreateEnvironment.Environment.ID

	reg, err := commands.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	encode := func(p any) eventstore.EventData {
		ev, err := reg.Encode(uuid.Must(uuid.NewV7()), p, eventstore.Metadata{EnvironmentID: envID, OccurredAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if _, err := store.Append(ctx, "propagation-"+envID, eventstore.Any, encode(domain.PropagationRevisionPublished{EnvironmentID: envID,
		RevisionID: "rev1", Number: 1, Content: domain.PropagationContent{Stores: []domain.PropagationStore{
			{ID: "app", Name: "App", Type: domain.StoreSCIM, Status: domain.StoreActive}}}})); err != nil {
		t.Fatal(err)
	}
	res, err := store.Append(ctx, "propaccount-r1_u1", eventstore.Any, encode(domain.PropagationChangeFailed{ChangeOutcome: domain.ChangeOutcome{
		EnvironmentID: envID, RuleID: "r1", StoreID: "app", Kind: domain.IdentityUser, IdentityID: "u1", Operation: domain.OpCreate},
		Class: "AUTH", Message: "401 from target", Final: true}))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		PropagationStoreStatus struct {
			State       string
			FailedCount int
		} `json:"propagationStoreStatus"`
	}
	gql(t, c, `query($e: ID!, $p: String) { propagationStoreStatus(environmentId: $e, storeId: "app", minPosition: $p) { state failedCount } }`,
		map[string]any{"e": envID, "p": res.Position.String()}, &st)
	if st.PropagationStoreStatus.State != "ACTIVE" || st.PropagationStoreStatus.FailedCount != 1 {
		t.Errorf("served store status %+v", st.PropagationStoreStatus)
	}
	gqlFails(t, c, `mutation($e: ID!) { resyncPropagationRule(input: {environmentId: $e, ruleId: "r1"}) { resyncId } }`,
		map[string]any{"e": envID}, "NOT_FOUND", "") // the runtime is wired: r1 is in no published revision
}
