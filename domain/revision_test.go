package domain

import (
	"errors"
	"strings"
	"testing"
)

func sampleConfiguration() Configuration {
	return Configuration{EnvironmentID: "e1", Name: "Acme", PasswordPolicy: DefaultPasswordPolicy(), DefaultPopulationID: "p1",
		Attributes:  []AttributeDef{{Name: "site", Type: AttributeString, Enum: []string{"a", "b"}}, {Name: "Badge", Type: AttributeBoolean}},
		Populations: []ConfigPopulation{{ID: "p1", Name: "Default"}, {ID: "p2", Name: "Staff", Description: "employees"}},
		Groups: []ConfigGroup{
			{ID: "g1", Name: "All", Kind: GroupDirect, Children: []string{"g3", "g2"}},
			{ID: "g2", Name: "Sales", Kind: GroupDynamic, Filter: `site eq "a"`, Roles: []ConfigRole{{Role: RoleAuditor}, {Role: RoleIdentityDataAdmin, PopulationID: "p2"}}},
			{ID: "g3", Name: "Ops", Kind: GroupDirect},
		}}
}

func TestConfigurationHash(t *testing.T) {
	base := sampleConfiguration()
	h := base.Hash()
	if !strings.HasPrefix(h, "sha256:") || len(h) != 7+64 {
		t.Fatalf("hash %q", h)
	}

	// Order of lists, IDs and the environment's ID do not count.
	shuffled := sampleConfiguration()
	shuffled.EnvironmentID = "e2"
	a := shuffled.Attributes
	a[0], a[1] = a[1], a[0]
	g := shuffled.Groups
	g[0], g[2] = g[2], g[0]
	g[1].Roles[0], g[1].Roles[1] = g[1].Roles[1], g[1].Roles[0]
	if shuffled.Hash() != h {
		t.Fatal("reordering changed the hash")
	}
	renumbered := sampleConfiguration()
	ids := map[string]string{"p1": "q1", "p2": "q2", "g1": "h1", "g2": "h2", "g3": "h3"}
	renumbered.DefaultPopulationID = ids["p1"]
	for i := range renumbered.Populations {
		renumbered.Populations[i].ID = ids[renumbered.Populations[i].ID]
	}
	for i := range renumbered.Groups {
		gr := &renumbered.Groups[i]
		gr.ID = ids[gr.ID]
		for j := range gr.Children {
			gr.Children[j] = ids[gr.Children[j]]
		}
		for j := range gr.Roles {
			if gr.Roles[j].PopulationID != "" {
				gr.Roles[j].PopulationID = ids[gr.Roles[j].PopulationID]
			}
		}
	}
	if renumbered.Hash() != h {
		t.Fatal("new IDs for the same resources changed the hash")
	}

	// Every item counts.
	changes := map[string]func(*Configuration){
		"name":            func(c *Configuration) { c.Name = "Acme2" },
		"policy":          func(c *Configuration) { c.PasswordPolicy.History = 1 },
		"default":         func(c *Configuration) { c.DefaultPopulationID = "p2" },
		"enum":            func(c *Configuration) { c.Attributes[0].Enum = []string{"b", "a"} },
		"attribute":       func(c *Configuration) { c.Attributes = c.Attributes[:1] },
		"population":      func(c *Configuration) { c.Populations[1].Description = "" },
		"group filter":    func(c *Configuration) { c.Groups[1].Filter = `site eq "b"` },
		"nesting":         func(c *Configuration) { c.Groups[0].Children = []string{"g2"} },
		"role scope":      func(c *Configuration) { c.Groups[1].Roles[1].PopulationID = "p1" },
		"duplicate role":  func(c *Configuration) { c.Groups[1].Roles = append(c.Groups[1].Roles, ConfigRole{Role: RoleAuditor}) },
		"unresolved role": func(c *Configuration) { c.Groups[1].Roles[1].PopulationID = "gone" },
	}
	for name, change := range changes {
		c := sampleConfiguration()
		change(&c)
		if c.Hash() == h {
			t.Errorf("%s: the hash did not change", name)
		}
	}
}

func TestConfigRevisionsCreate(t *testing.T) {
	var r ConfigRevisions
	events, err := r.Create("e1", "r1", "  Baseline ", "", "12", "sha256:aa")
	if err != nil {
		t.Fatal(err)
	}
	first := events[0].(ConfigRevisionCreated)
	if first.Name != "Baseline" || first.PreviousRevisionID != "" || first.Position != "12" {
		t.Fatalf("first %+v", first)
	}
	r.Apply(first)
	events, err = r.Create("e1", "r2", "next", "d", "15", "sha256:bb")
	if err != nil {
		t.Fatal(err)
	}
	if second := events[0].(ConfigRevisionCreated); second.PreviousRevisionID != "r1" || second.PreviousHash != "sha256:aa" {
		t.Fatalf("second not chained: %+v", second)
	}

	_, err = r.Create("e1", "r3", "BASELINE", "", "15", "sha256:cc")
	var fe *FieldError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &fe) || fe.Field != "input.name" {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, name := range []string{"", " \t", strings.Repeat("é", MaxRevisionName+1), "a\x00b"} {
		_, err := r.Create("e1", "r3", name, "", "15", "sha256:cc")
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != "input.name" {
			t.Fatalf("name %q: %v", name, err)
		}
	}
	if _, err := r.Create("e1", "r3", strings.Repeat("é", MaxRevisionName), "", "15", "sha256:cc"); err != nil {
		t.Fatalf("a name of %d characters: %v", MaxRevisionName, err)
	}
	_, err = r.Create("e1", "r3", "x", strings.Repeat("d", 1025), "", "md5:x")
	for _, field := range []string{"input.description", "input.position", "input.contentHash"} {
		if !strings.Contains(err.Error(), field) {
			t.Fatalf("want every problem at once, %v lacks %s", err, field)
		}
	}
	if got := len(r.Revisions()); got != 1 {
		t.Fatalf("deciding changed the state: %d revisions", got)
	}
}
