package commands

import (
	"sync"
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestUserLifecycle(t *testing.T) {
	f := newFixture(t)
	env, defPop := f.env()
	staff, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "Staff"})
	if err != nil {
		t.Fatal(err)
	}
	other, otherPop := f.env()
	u := f.user(env, "ann", nil)
	ref := UserRef{EnvironmentID: env, UserID: u}
	d := f.dir
	tests := []struct {
		name  string
		run   func() (Committed, error)
		want  any // nil: nothing appended
		kind  error
		field string
	}{
		{"enable an enabled user", func() (Committed, error) { return d.EnableUser.Handle(f.ctx, EnableUser(ref)) }, nil, nil, ""},
		{"disable", func() (Committed, error) { return d.DisableUser.Handle(f.ctx, DisableUser(ref)) }, domain.UserDisabled{EnvironmentID: env, UserID: u}, nil, ""},
		{"disable again", func() (Committed, error) { return d.DisableUser.Handle(f.ctx, DisableUser(ref)) }, nil, nil, ""},
		{"enable", func() (Committed, error) { return d.EnableUser.Handle(f.ctx, EnableUser(ref)) }, domain.UserEnabled{EnvironmentID: env, UserID: u}, nil, ""},
		{"unlock an unlocked user", func() (Committed, error) { return d.UnlockUser.Handle(f.ctx, UnlockUser(ref)) }, nil, nil, ""},
		{"lock", func() (Committed, error) {
			return d.LockUser.Handle(f.ctx, LockUser{EnvironmentID: ref.EnvironmentID, UserID: ref.UserID})
		}, domain.UserLocked{EnvironmentID: env, UserID: u, Reason: domain.LockAdmin}, nil, ""},
		{"lock again", func() (Committed, error) {
			return d.LockUser.Handle(f.ctx, LockUser{EnvironmentID: ref.EnvironmentID, UserID: ref.UserID})
		}, nil, nil, ""},
		{"unlock", func() (Committed, error) { return d.UnlockUser.Handle(f.ctx, UnlockUser(ref)) }, domain.UserUnlocked{EnvironmentID: env, UserID: u, Reason: "ADMIN"}, nil, ""},
		{"move", func() (Committed, error) {
			return d.MoveUser.Handle(f.ctx, MoveUser{EnvironmentID: env, UserID: u, PopulationID: staff.PopulationID})
		}, domain.UserPopulationChanged{EnvironmentID: env, UserID: u, From: defPop, To: staff.PopulationID}, nil, ""},
		{"move to its population", func() (Committed, error) {
			return d.MoveUser.Handle(f.ctx, MoveUser{EnvironmentID: env, UserID: u, PopulationID: staff.PopulationID})
		}, nil, nil, ""},
		{"move to another environment's population", func() (Committed, error) {
			return d.MoveUser.Handle(f.ctx, MoveUser{EnvironmentID: env, UserID: u, PopulationID: otherPop})
		}, nil, domain.ErrNotFound, "populationId"},
		{"disable in another environment", func() (Committed, error) {
			return d.DisableUser.Handle(f.ctx, DisableUser{EnvironmentID: other, UserID: u})
		}, nil, domain.ErrNotFound, ""},
		{"delete", func() (Committed, error) { return d.DeleteUser.Handle(f.ctx, DeleteUser(ref)) }, domain.UserDeleted{EnvironmentID: env, UserID: u}, nil, ""},
		{"enable deleted", func() (Committed, error) { return d.EnableUser.Handle(f.ctx, EnableUser(ref)) }, nil, domain.ErrNotFound, ""},
		{"delete deleted", func() (Committed, error) { return d.DeleteUser.Handle(f.ctx, DeleteUser(ref)) }, nil, domain.ErrNotFound, ""},
	}
	stream := "user-" + u
	for _, tt := range tests {
		before := len(f.events(stream))
		res, err := tt.run()
		after := f.events(stream)
		if tt.kind != nil {
			wantKind(t, err, tt.kind, tt.field)
		} else if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		switch {
		case tt.want == nil && (len(after) != before || !res.Position.IsZero()):
			t.Fatalf("%s: appended %v (position %v)", tt.name, after[before:], res.Position)
		case tt.want != nil && (len(after) != before+1 || after[before] != tt.want || res.Position.IsZero()):
			t.Fatalf("%s: got %v, want %v", tt.name, after[before:], tt.want)
		}
	}
	// Deleting released the username.
	f.user(env, "ann", nil)
}

func TestLifecycleCommandsRetryConcurrentChanges(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	u := f.user(env, "ann", nil)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = f.dir.LockUser.Handle(f.ctx, LockUser{EnvironmentID: env, UserID: u})
			} else {
				_, errs[i] = f.dir.DisableUser.Handle(f.ctx, DisableUser{EnvironmentID: env, UserID: u})
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("a commuting command failed: %v", err)
		}
	}
	evs := f.events("user-" + u)
	if len(evs) != 3 { // created, one lock, one disable
		t.Fatalf("events %v", evs)
	}
}
