package commands

import (
	"strings"
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestPopulationCommands(t *testing.T) {
	f := newFixture(t)
	env, defPop := f.env()
	staff, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "Staff", Description: "employees"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.last("population-" + staff.PopulationID); got != (domain.PopulationCreated{EnvironmentID: env,
		PopulationID: staff.PopulationID, Name: "Staff", Description: "employees"}) {
		t.Fatalf("population.created %+v", got)
	}
	_, err = f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: " STAFF "})
	wantKind(t, err, domain.ErrConflict, "name")
	_, err = f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "x", Description: strings.Repeat("d", 1025)})
	wantKind(t, err, domain.ErrInvalid, "description")

	// Renaming frees the old name and takes the new one.
	if _, err := f.dir.UpdatePopulation.Handle(f.ctx, UpdatePopulation{EnvironmentID: env, PopulationID: staff.PopulationID, Name: "Employees"}); err != nil {
		t.Fatal(err)
	}
	contractors, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "Staff"})
	if err != nil {
		t.Fatalf("old name not released: %v", err)
	}
	_, err = f.dir.UpdatePopulation.Handle(f.ctx, UpdatePopulation{EnvironmentID: env, PopulationID: contractors.PopulationID, Name: "employees"})
	wantKind(t, err, domain.ErrConflict, "name")
	res, err := f.dir.UpdatePopulation.Handle(f.ctx, UpdatePopulation{EnvironmentID: env, PopulationID: contractors.PopulationID, Name: "Staff"})
	if err != nil || !res.Position.IsZero() {
		t.Fatalf("no-op update: %v, %v", res, err)
	}

	// Deleting: refused for the default population and while it holds users.
	_, err = f.dir.DeletePopulation.Handle(f.ctx, DeletePopulation{EnvironmentID: env, PopulationID: defPop})
	wantKind(t, err, domain.ErrConflict, "")
	if _, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, PopulationID: contractors.PopulationID,
		Profile: domain.Profile{Username: "ann"}}); err != nil {
		t.Fatal(err)
	}
	_, err = f.dir.DeletePopulation.Handle(f.ctx, DeletePopulation{EnvironmentID: env, PopulationID: contractors.PopulationID})
	wantKind(t, err, domain.ErrConflict, "")
	if !strings.Contains(err.Error(), "holds 1 users") {
		t.Fatalf("error does not say how many users: %v", err)
	}
	if _, err := f.dir.DeletePopulation.Handle(f.ctx, DeletePopulation{EnvironmentID: env, PopulationID: staff.PopulationID}); err != nil {
		t.Fatal(err)
	}
	if got := f.last("population-" + staff.PopulationID); got != (domain.PopulationDeleted{EnvironmentID: env, PopulationID: staff.PopulationID}) {
		t.Fatalf("population.deleted %+v", got)
	}
	_, err = f.dir.UpdatePopulation.Handle(f.ctx, UpdatePopulation{EnvironmentID: env, PopulationID: staff.PopulationID, Name: "x"})
	wantKind(t, err, domain.ErrNotFound, "populationId")
	if _, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "Employees"}); err != nil {
		t.Fatalf("deleted population's name not released: %v", err)
	}
	// Names are unique per environment only.
	other, _ := f.env()
	if _, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: other, Name: "Employees"}); err != nil {
		t.Fatal(err)
	}
}
