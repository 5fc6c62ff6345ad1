package domain

import (
	"errors"
	"testing"
)

func TestEnvironmentAndPopulationDecisions(t *testing.T) {
	created, err := NewEnvironment("e", " Acme ", "p")
	if err != nil || created.Name != "Acme" || created.PasswordPolicy != DefaultPasswordPolicy() {
		t.Fatalf("%+v, %v", created, err)
	}
	for _, bad := range []string{"", " ", "a\u0085b", string([]byte{0xff})} {
		if _, err := NewEnvironment("e", bad, "p"); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	env := &Environment{}
	env.Apply(created)
	if evs, err := env.Rename("Acme"); err != nil || evs != nil {
		t.Fatalf("same name: %v, %v", evs, err)
	}
	pop := &Population{}
	pc, _ := NewPopulation("e", "p", "Default", "")
	pop.Apply(pc)
	if _, err := pop.Delete(env, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("deleting the default population: %v", err)
	}
	other := &Population{ID: "q", EnvironmentID: "e", Name: "Staff", Exists: true}
	if _, err := other.Delete(env, 2); !errors.Is(err, ErrConflict) {
		t.Fatalf("deleting a population with users: %v", err)
	}
	if evs, err := other.Delete(env, 0); err != nil || evs[0] != (PopulationDeleted{EnvironmentID: "e", PopulationID: "q"}) {
		t.Fatalf("delete: %v, %v", evs, err)
	}
	evs, err := env.Delete()
	if err != nil {
		t.Fatal(err)
	}
	env.Apply(evs[0])
	if _, err := env.Rename("x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renaming a deleted environment: %v", err)
	}
}
