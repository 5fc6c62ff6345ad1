package projections

import (
	"reflect"
	"slices"
	"strings"

	"github.com/idstream/idstream/domain"
)

// Configuration is an environment's configuration (see domain.Configuration for what it holds
// and how it hashes).
type Configuration = domain.Configuration

// Configuration returns environment env's configuration as the Directory holds it now, in the
// canonical order. Direct members of groups are left out (identity data, not configuration).
// ErrNotFound for an environment that does not exist. Safe for concurrent use (read lock).
func (d *Directory) Configuration(env string) (Configuration, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return Configuration{}, err
	}
	c := Configuration{EnvironmentID: s.env.ID, Name: s.env.Name, PasswordPolicy: s.env.PasswordPolicy,
		DefaultPopulationID: s.env.DefaultPopulationID, Attributes: make([]domain.AttributeDef, 0, len(s.schema)),
		Populations: make([]domain.ConfigPopulation, 0, len(s.pops)), Groups: make([]domain.ConfigGroup, 0, len(s.groups))}
	for _, a := range s.schema {
		a.Enum = slices.Clone(a.Enum)
		c.Attributes = append(c.Attributes, a)
	}
	for _, p := range s.pops {
		c.Populations = append(c.Populations, domain.ConfigPopulation{ID: p.p.ID, Name: p.p.Name, Description: p.p.Description})
	}
	for _, g := range s.groups {
		cg := domain.ConfigGroup{ID: g.g.ID, Name: g.g.Name, Description: g.g.Description, Kind: g.g.Kind, Filter: g.g.Filter}
		for ch := range g.children {
			cg.Children = append(cg.Children, ch)
		}
		for _, r := range g.g.Roles {
			cg.Roles = append(cg.Roles, domain.ConfigRole{Role: r.Role, PopulationID: r.PopulationID})
		}
		c.Groups = append(c.Groups, cg)
	}
	return c.Normalize(), nil
}

// ChangeKind says how a configuration item differs between two configurations.
type ChangeKind string

const (
	ChangeAdded   ChangeKind = "ADDED"
	ChangeRemoved ChangeKind = "REMOVED"
	ChangeChanged ChangeKind = "CHANGED"
)

// ConfigChange is one difference between two configurations, at attribute level. Path names the
// item: "name", "passwordPolicy.minLength", "defaultPopulationId", "schema.<attribute>" (added or
// removed) and "schema.<attribute>.<field>" (changed), "populations.<id>[.name|.description]",
// "groups.<id>[.name|.description|.kind|.filter|.children|.roles]". Name is the population's or
// group's name (the after-name when both exist). Before and After are nil on the side where the
// item does not exist.
type ConfigChange struct {
	Path   string     `json:"path"`
	Kind   ChangeKind `json:"kind"`
	Name   string     `json:"name,omitempty"`
	Before any        `json:"before,omitempty"`
	After  any        `json:"after,omitempty"`
}

// DiffConfigurations returns what changes from a to b, in a stable order: environment fields,
// password policy, schema by lower-cased name, populations and groups by ID. Populations and
// groups are matched by ID: one re-created (new ID) is a removal and an addition. Equal
// configurations give no change.
func DiffConfigurations(a, b Configuration) []ConfigChange {
	a, b = clone(a).Normalize(), clone(b).Normalize()
	var out []ConfigChange
	changed := func(path, name string, before, after any) {
		if !reflect.DeepEqual(before, after) {
			out = append(out, ConfigChange{Path: path, Kind: ChangeChanged, Name: name, Before: before, After: after})
		}
	}
	changed("name", "", a.Name, b.Name)
	pa, pb := reflect.ValueOf(a.PasswordPolicy), reflect.ValueOf(b.PasswordPolicy)
	for i := range pa.NumField() {
		tag, _, _ := strings.Cut(pa.Type().Field(i).Tag.Get("json"), ",")
		changed("passwordPolicy."+tag, "", pa.Field(i).Interface(), pb.Field(i).Interface())
	}
	changed("defaultPopulationId", "", a.DefaultPopulationID, b.DefaultPopulationID)

	diffByKey(a.Attributes, b.Attributes, func(d domain.AttributeDef) string { return strings.ToLower(d.Name) },
		func(x, y *domain.AttributeDef) {
			switch {
			case y == nil:
				out = append(out, ConfigChange{Path: "schema." + x.Name, Kind: ChangeRemoved, Name: x.Name, Before: *x})
			case x == nil:
				out = append(out, ConfigChange{Path: "schema." + y.Name, Kind: ChangeAdded, Name: y.Name, After: *y})
			default:
				va, vb := reflect.ValueOf(*x), reflect.ValueOf(*y)
				for i := range va.NumField() {
					tag, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
					fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
					if e, ok := fa.([]string); ok && len(e) == 0 {
						fa = []string(nil)
					}
					if e, ok := fb.([]string); ok && len(e) == 0 {
						fb = []string(nil)
					}
					changed("schema."+y.Name+"."+tag, y.Name, fa, fb)
				}
			}
		})
	diffByKey(a.Populations, b.Populations, func(p domain.ConfigPopulation) string { return p.ID },
		func(x, y *domain.ConfigPopulation) {
			switch {
			case y == nil:
				out = append(out, ConfigChange{Path: "populations." + x.ID, Kind: ChangeRemoved, Name: x.Name, Before: *x})
			case x == nil:
				out = append(out, ConfigChange{Path: "populations." + y.ID, Kind: ChangeAdded, Name: y.Name, After: *y})
			default:
				changed("populations."+y.ID+".name", y.Name, x.Name, y.Name)
				changed("populations."+y.ID+".description", y.Name, x.Description, y.Description)
			}
		})
	diffByKey(a.Groups, b.Groups, func(g domain.ConfigGroup) string { return g.ID },
		func(x, y *domain.ConfigGroup) {
			switch {
			case y == nil:
				out = append(out, ConfigChange{Path: "groups." + x.ID, Kind: ChangeRemoved, Name: x.Name, Before: *x})
			case x == nil:
				out = append(out, ConfigChange{Path: "groups." + y.ID, Kind: ChangeAdded, Name: y.Name, After: *y})
			default:
				p := "groups." + y.ID + "."
				changed(p+"name", y.Name, x.Name, y.Name)
				changed(p+"description", y.Name, x.Description, y.Description)
				changed(p+"kind", y.Name, x.Kind, y.Kind)
				changed(p+"filter", y.Name, x.Filter, y.Filter)
				changed(p+"children", y.Name, nilIfEmpty(x.Children), nilIfEmpty(y.Children))
				changed(p+"roles", y.Name, nilIfEmpty(x.Roles), nilIfEmpty(y.Roles))
			}
		})
	return out
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// diffByKey walks two lists sorted by key and calls f for each key with the item on each side
// (nil on the side lacking it).
func diffByKey[T any](a, b []T, key func(T) string, f func(x, y *T)) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && key(a[i]) < key(b[j])):
			f(&a[i], nil)
			i++
		case i == len(a) || key(b[j]) < key(a[i]):
			f(nil, &b[j])
			j++
		default:
			f(&a[i], &b[j])
			i, j = i+1, j+1
		}
	}
}

// clone copies c's slices so that sorting them does not touch the caller's.
func clone(c Configuration) Configuration {
	c.Attributes = slices.Clone(c.Attributes)
	c.Populations = slices.Clone(c.Populations)
	c.Groups = slices.Clone(c.Groups)
	for i := range c.Groups {
		c.Groups[i].Children = slices.Clone(c.Groups[i].Children)
		c.Groups[i].Roles = slices.Clone(c.Groups[i].Roles)
	}
	return c
}
