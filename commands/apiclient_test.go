package commands

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

func TestAPIClients(t *testing.T) {
	f := newFixture(t)
	id, token, pos, err := f.dir.Bootstrap.Handle(f.ctx)
	if err != nil || pos.IsZero() {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "ids_") || len(token) != 4+43 {
		t.Fatalf("token shape %q", token)
	}
	evs := f.events("apiclient-" + id)
	created := evs[0].(domain.APIClientCreated)
	if created.EnvironmentID != "" || created.Name != "bootstrap admin" || len(created.Roles) != 1 ||
		created.Roles[0].Role != domain.RoleEnvironmentAdmin || created.Roles[0].EnvironmentID != "" {
		t.Fatalf("bootstrap client %+v", created)
	}
	issued := evs[1].(domain.APIClientTokenIssued)
	if issued.SHA256 != HashToken(token) || len(issued.SHA256) != 64 {
		t.Fatalf("token_issued %+v", issued)
	}
	client := &domain.APIClient{}
	for _, ev := range evs {
		client.Apply(ev)
	}
	if _, ok := client.ValidToken(HashToken(token), f.clock.Now()); !ok {
		t.Fatal("bootstrap token not valid")
	}

	env, _ := f.env()
	other, _ := f.env()
	_, err = f.dir.CreateAPIClient.Handle(f.ctx, CreateAPIClient{EnvironmentID: env, Name: "ci",
		Roles: []domain.RoleAssignment{{Role: domain.RoleAuditor, EnvironmentID: env}, {Role: domain.RoleAuditor, EnvironmentID: other}, {Role: "ROOT", EnvironmentID: env}}})
	wantKind(t, err, domain.ErrInvalid, "roles[1].environmentId")
	if !hasField(err, "roles[2].role") {
		t.Fatalf("want every problem: %v", err)
	}
	ci, err := f.dir.CreateAPIClient.Handle(f.ctx, CreateAPIClient{EnvironmentID: env, Name: "ci", Roles: []domain.RoleAssignment{{Role: domain.RoleAuditor, EnvironmentID: env}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.dir.IssueToken.Handle(f.ctx, IssueToken{ClientID: ci.ClientID, ExpiresAt: f.clock.Now().Add(-time.Minute)})
	wantKind(t, err, domain.ErrInvalid, "expiresAt")
	second, err := f.dir.IssueToken.Handle(f.ctx, IssueToken{ClientID: ci.ClientID, ExpiresAt: f.clock.Now().Add(time.Hour)})
	if err != nil || second.Token == ci.Token {
		t.Fatal(err)
	}
	if _, err := f.dir.RevokeToken.Handle(f.ctx, RevokeToken{ClientID: ci.ClientID, TokenID: ci.TokenID}); err != nil {
		t.Fatal(err)
	}
	if res, err := f.dir.RevokeToken.Handle(f.ctx, RevokeToken{ClientID: ci.ClientID, TokenID: ci.TokenID}); err != nil || !res.Position.IsZero() {
		t.Fatalf("revoking twice: %v, %v", res, err)
	}
	_, err = f.dir.RevokeToken.Handle(f.ctx, RevokeToken{ClientID: ci.ClientID, TokenID: "nope"})
	wantKind(t, err, domain.ErrNotFound, "tokenId")
	client = &domain.APIClient{}
	for _, ev := range f.events("apiclient-" + ci.ClientID) {
		client.Apply(ev)
	}
	now := f.clock.Now()
	if _, ok := client.ValidToken(HashToken(ci.Token), now); ok {
		t.Fatal("revoked token still valid")
	}
	if _, ok := client.ValidToken(HashToken(second.Token), now); !ok {
		t.Fatal("second token not valid")
	}
	if _, ok := client.ValidToken(HashToken(second.Token), now.Add(2*time.Hour)); ok {
		t.Fatal("expired token still valid")
	}

	// No token ever enters the log.
	for ev, err := range f.d.Store.ReadAll(f.ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{token, ci.Token, second.Token} {
			if strings.Contains(string(ev.Data), strings.TrimPrefix(tok, "ids_")) {
				t.Fatalf("%s holds a bearer token", ev.Type)
			}
		}
	}

	// Deleting the client, or its environment, ends it.
	if _, err := f.dir.DeleteEnvironment.Handle(f.ctx, DeleteEnvironment{EnvironmentID: env}); err != nil {
		t.Fatal(err)
	}
	_, err = f.dir.IssueToken.Handle(f.ctx, IssueToken{ClientID: ci.ClientID})
	wantKind(t, err, domain.ErrNotFound, "")
	if _, err := f.dir.DeleteAPIClient.Handle(f.ctx, DeleteAPIClient{ClientID: id}); err != nil {
		t.Fatal(err)
	}
	_, err = f.dir.DeleteAPIClient.Handle(f.ctx, DeleteAPIClient{ClientID: id})
	wantKind(t, err, domain.ErrNotFound, "clientId")
}

// TestBootstrapFirstOnce: of servers bootstrapping one log at the same instant exactly one
// creates the first admin; the others create nothing and do not fail. Handle (the offline
// recovery path) still adds another admin afterwards.
func TestBootstrapFirstOnce(t *testing.T) {
	f := newFixture(t)
	const n = 8
	type result struct {
		token   string
		created bool
		err     error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			token, _, created, err := f.dir.Bootstrap.HandleFirst(f.ctx)
			results <- result{token, created, err}
		})
	}
	wg.Wait()
	close(results)
	var winners []string
	for r := range results {
		switch {
		case r.err != nil:
			t.Errorf("HandleFirst: %v", r.err)
		case r.created:
			winners = append(winners, r.token)
		case r.token != "":
			t.Errorf("HandleFirst returned token %q with created false", r.token)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent HandleFirst calls created the first admin, want 1", len(winners), n)
	}
	evs := f.events("apiclient-" + FirstAdminClientID)
	if len(evs) != 2 {
		t.Fatalf("first admin's stream holds %d events, want created and token_issued", len(evs))
	}
	if issued := evs[1].(domain.APIClientTokenIssued); issued.SHA256 != HashToken(winners[0]) {
		t.Errorf("the stored token digest is not the winner's token's")
	}
	if _, _, created, err := f.dir.Bootstrap.HandleFirst(f.ctx); created || err != nil {
		t.Errorf("HandleFirst on a bootstrapped log: created %v, err %v; want false, nil", created, err)
	}
	id, _, _, err := f.dir.Bootstrap.Handle(f.ctx)
	if err != nil || id == FirstAdminClientID {
		t.Errorf("Handle after HandleFirst: id %s, err %v; want another client", id, err)
	}
}
