package domain

import (
	"slices"
	"sort"
	"strings"
)

// GroupTree holds every nesting edge of an environment's groups, folded from grouptree-<env>.
// One stream per environment makes cycle checks race-free: a nesting appends with the tree's
// expected revision, so two concurrent nestings that together would close a cycle cannot both
// commit.
type GroupTree struct {
	EnvironmentID string
	children      map[string]map[string]bool // parent -> children
}

// Apply folds one event payload into the state.
func (t *GroupTree) Apply(event any) {
	switch ev := event.(type) {
	case GroupNested:
		t.EnvironmentID = ev.EnvironmentID
		if t.children == nil {
			t.children = map[string]map[string]bool{}
		}
		if t.children[ev.ParentID] == nil {
			t.children[ev.ParentID] = map[string]bool{}
		}
		t.children[ev.ParentID][ev.ChildID] = true
	case GroupUnnested:
		delete(t.children[ev.ParentID], ev.ChildID)
		if len(t.children[ev.ParentID]) == 0 {
			delete(t.children, ev.ParentID)
		}
	}
}

// Children returns the direct child groups of parent, sorted.
func (t *GroupTree) Children(parent string) []string {
	out := make([]string, 0, len(t.children[parent]))
	for c := range t.children[parent] {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Nested reports whether child is a direct child of parent.
func (t *GroupTree) Nested(parent, child string) bool { return t.children[parent][child] }

// pathFrom returns a path of nesting edges from one group down to another, or nil.
func (t *GroupTree) pathFrom(from, to string, seen map[string]bool) []string {
	if from == to {
		return []string{to}
	}
	if seen[from] {
		return nil
	}
	seen[from] = true
	for _, c := range t.Children(from) {
		if p := t.pathFrom(c, to, seen); p != nil {
			return append([]string{from}, p...)
		}
	}
	return nil
}

// Nest decides making child a member of parent. Both groups must exist in the environment (the
// caller loads them). A nesting that would make a group its own ancestor, itself included, is
// ErrConflict naming the cycle (parent > child > ... > parent). An existing edge records nothing.
func (t *GroupTree) Nest(env, parent, child string) ([]any, error) {
	if parent == child {
		return nil, &FieldError{Field: "memberId", Reason: "a group cannot be a member of itself", Kind: ErrConflict}
	}
	if t.Nested(parent, child) {
		return nil, nil
	}
	if p := t.pathFrom(child, parent, map[string]bool{}); p != nil {
		cycle := append([]string{parent}, p...)
		return nil, &FieldError{Field: "memberId", Kind: ErrConflict,
			Reason: "nesting would create a cycle: " + strings.Join(cycle, " > ")}
	}
	return []any{GroupNested{EnvironmentID: env, ParentID: parent, ChildID: child}}, nil
}

// Unnest decides removing child from parent (ErrNotFound on "memberId" when not nested).
func (t *GroupTree) Unnest(env, parent, child string) ([]any, error) {
	if !t.Nested(parent, child) {
		return nil, &FieldError{Field: "memberId", Reason: "group " + child + " is not a member of group " + parent, Kind: ErrNotFound}
	}
	return []any{GroupUnnested{EnvironmentID: env, ParentID: parent, ChildID: child}}, nil
}

// Detach decides removing every edge that touches group (as parent or child), for its deletion.
// The events come in a stable order.
func (t *GroupTree) Detach(env, group string) []any {
	var out []any
	for _, c := range t.Children(group) {
		out = append(out, GroupUnnested{EnvironmentID: env, ParentID: group, ChildID: c})
	}
	parents := make([]string, 0)
	for p, cs := range t.children {
		if cs[group] {
			parents = append(parents, p)
		}
	}
	slices.Sort(parents)
	for _, p := range parents {
		out = append(out, GroupUnnested{EnvironmentID: env, ParentID: p, ChildID: group})
	}
	return out
}
