package graph_test

import "testing"

// Populations tell how many users they hold.
func TestPopulationUserCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, popID := e.directory()
	e.createUser(org, envID, "ann", "eng", "123456", popID)
	e.createUser(org, envID, "bob", "eng", "654321", popID)
	var out struct {
		Population  struct{ UserCount int }
		Populations []struct {
			ID        string
			UserCount int
		}
	}
	e.ok(org, `query($e: ID!, $p: ID!) { population(environmentId: $e, id: $p) { userCount } populations(environmentId: $e) { id userCount } }`,
		map[string]any{"e": envID, "p": popID}, &out)
	if out.Population.UserCount != 2 || len(out.Populations) != 2 {
		t.Fatalf("%+v", out)
	}
	for _, p := range out.Populations {
		if want := map[bool]int{true: 2, false: 0}[p.ID == popID]; p.UserCount != want {
			t.Fatalf("population %s holds %d users, want %d", p.ID, p.UserCount, want)
		}
	}
}
