package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
)

// Configuration is an environment's configuration at one log position: its name, password
// policy, default population, user schema, populations and groups' rules (kind, dynamic filter,
// nesting, role assignments). It is not identity data: users, and the direct members of direct
// groups, are not part of it (a restore never adds or removes members).
//
// Projections produce it (projections.Directory.Configuration), sorted: Attributes by
// lower-cased name, Populations and Groups by ID, Children by ID, Roles by role then population.
type Configuration struct {
	EnvironmentID       string             `json:"environmentId"`
	Name                string             `json:"name"`
	PasswordPolicy      PasswordPolicy     `json:"passwordPolicy"`
	DefaultPopulationID string             `json:"defaultPopulationId"`
	Attributes          []AttributeDef     `json:"attributes"`
	Populations         []ConfigPopulation `json:"populations"`
	Groups              []ConfigGroup      `json:"groups"`
}

// ConfigPopulation is a population as configuration.
type ConfigPopulation struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ConfigGroup is a group's rules: never its direct members.
type ConfigGroup struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Kind        GroupKind `json:"kind"`
	Filter      string    `json:"filter,omitempty"`
	// Children are the IDs of the groups nested in this one.
	Children []string     `json:"children,omitempty"`
	Roles    []ConfigRole `json:"roles,omitempty"`
}

// ConfigRole is a role assigned to a group's members, without its assignment ID (a restore
// assigns anew, with a new ID; the grant is the same).
type ConfigRole struct {
	Role         Role   `json:"role"`
	PopulationID string `json:"populationId,omitempty"`
}

// Normalize sorts c's lists into the canonical order (see Configuration) in place and returns c.
func (c Configuration) Normalize() Configuration {
	slices.SortFunc(c.Attributes, func(a, b AttributeDef) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	slices.SortFunc(c.Populations, func(a, b ConfigPopulation) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(c.Groups, func(a, b ConfigGroup) int { return strings.Compare(a.ID, b.ID) })
	for i := range c.Groups {
		slices.Sort(c.Groups[i].Children)
		slices.SortFunc(c.Groups[i].Roles, compareRoles)
	}
	return c
}

func compareRoles(a, b ConfigRole) int {
	if a.Role != b.Role {
		return strings.Compare(string(a.Role), string(b.Role))
	}
	return strings.Compare(a.PopulationID, b.PopulationID)
}

// Population returns the population id of c.
func (c Configuration) Population(id string) (ConfigPopulation, bool) {
	i := slices.IndexFunc(c.Populations, func(p ConfigPopulation) bool { return p.ID == id })
	if i < 0 {
		return ConfigPopulation{}, false
	}
	return c.Populations[i], true
}

// Group returns the group id of c.
func (c Configuration) Group(id string) (ConfigGroup, bool) {
	i := slices.IndexFunc(c.Groups, func(g ConfigGroup) bool { return g.ID == id })
	if i < 0 {
		return ConfigGroup{}, false
	}
	return c.Groups[i], true
}

// Hash returns "sha256:" and the hex SHA-256 of c's canonical encoding. The encoding leaves out
// every ID: populations and groups are named by their names (unique per environment, compared
// case-insensitively), and references (the default population, nesting, role scopes) by the
// names they point to. So the hash depends only on what the configuration says, not on the
// order of the events that reached it, and a resource re-created by a restore (same name and
// rules, new ID) hashes as the original. The environment's ID is left out too.
func (c Configuration) Hash() string {
	b, err := json.Marshal(c.canonical())
	if err != nil { // only plain strings, numbers and booleans: cannot fail
		panic("domain: encode configuration: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

type canonicalConfig struct {
	Name              string           `json:"name"`
	PasswordPolicy    PasswordPolicy   `json:"passwordPolicy"`
	DefaultPopulation string           `json:"defaultPopulation"`
	Attributes        []AttributeDef   `json:"attributes"`
	Populations       []canonicalPop   `json:"populations"`
	Groups            []canonicalGroup `json:"groups"`
}

type canonicalPop struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type canonicalGroup struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Kind        GroupKind       `json:"kind"`
	Filter      string          `json:"filter"`
	Children    []string        `json:"children"`
	Roles       []canonicalRole `json:"roles"`
}

type canonicalRole struct {
	Role       Role   `json:"role"`
	Population string `json:"population"`
}

func (c Configuration) canonical() canonicalConfig {
	popName := map[string]string{}
	for _, p := range c.Populations {
		popName[p.ID] = p.Name
	}
	groupName := map[string]string{}
	for _, g := range c.Groups {
		groupName[g.ID] = g.Name
	}
	// A reference to a resource the configuration does not hold (say, a role scoped to a
	// population since deleted) keeps its ID: it cannot be named.
	ref := func(names map[string]string, id string) string {
		if id == "" {
			return ""
		}
		if n, ok := names[id]; ok {
			return "name:" + strings.ToLower(n)
		}
		return "id:" + id
	}
	out := canonicalConfig{Name: c.Name, PasswordPolicy: c.PasswordPolicy, DefaultPopulation: ref(popName, c.DefaultPopulationID),
		Attributes: make([]AttributeDef, 0, len(c.Attributes)), Populations: []canonicalPop{}, Groups: []canonicalGroup{}}
	for _, a := range c.Attributes {
		a.Enum = slices.Clone(a.Enum)
		if len(a.Enum) == 0 {
			a.Enum = nil
		}
		out.Attributes = append(out.Attributes, a)
	}
	slices.SortFunc(out.Attributes, func(a, b AttributeDef) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	for _, p := range c.Populations {
		out.Populations = append(out.Populations, canonicalPop{Name: p.Name, Description: p.Description})
	}
	slices.SortFunc(out.Populations, func(a, b canonicalPop) int {
		return strings.Compare(strings.ToLower(a.Name)+"\x00"+a.Name, strings.ToLower(b.Name)+"\x00"+b.Name)
	})
	for _, g := range c.Groups {
		cg := canonicalGroup{Name: g.Name, Description: g.Description, Kind: g.Kind, Filter: g.Filter,
			Children: []string{}, Roles: []canonicalRole{}}
		for _, ch := range g.Children {
			cg.Children = append(cg.Children, ref(groupName, ch))
		}
		slices.Sort(cg.Children)
		for _, r := range g.Roles {
			cg.Roles = append(cg.Roles, canonicalRole{Role: r.Role, Population: ref(popName, r.PopulationID)})
		}
		slices.SortFunc(cg.Roles, func(a, b canonicalRole) int {
			return strings.Compare(string(a.Role)+"\x00"+a.Population, string(b.Role)+"\x00"+b.Population)
		})
		out.Groups = append(out.Groups, cg)
	}
	slices.SortFunc(out.Groups, func(a, b canonicalGroup) int {
		return strings.Compare(strings.ToLower(a.Name)+"\x00"+a.Name, strings.ToLower(b.Name)+"\x00"+b.Name)
	})
	return out
}
