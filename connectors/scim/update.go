package scim

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
)

// patchOp is one operation of a SCIM PatchOp message (RFC 7644 §3.5.2).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

func patchBody(ops []patchOp) map[string]any {
	return map[string]any{"schemas": []string{schemaPatch}, "Operations": ops}
}

type parsedChange struct {
	path  mapping.Path
	value any
}

// maxCachedPaths bounds a connector's cache of parsed change paths (a store's changes come
// from its rules' mappings: a few dozen distinct paths).
const maxCachedPaths = 1024

// path parses a change path, caching the result: parsing a filtered path costs the filter
// parser a few hundred microseconds, and the same mapping targets recur in every change.
func (c *Connector) path(s string) (mapping.Path, error) {
	c.pathsMu.RLock()
	p, ok := c.paths[s]
	c.pathsMu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := mapping.ParsePath(s)
	if err != nil {
		return mapping.Path{}, err
	}
	c.pathsMu.Lock()
	if c.paths == nil {
		c.paths = make(map[string]mapping.Path)
	}
	if len(c.paths) < maxCachedPaths {
		c.paths[s] = p
	}
	c.pathsMu.Unlock()
	return p, nil
}

func (c *Connector) parseChanges(op string, changes []connectors.Change) ([]parsedChange, error) {
	out := make([]parsedChange, 0, len(changes))
	var errs []error
	for i, ch := range changes {
		p, err := c.path(ch.Path)
		if err != nil {
			errs = append(errs, domain.Invalidf(fmt.Sprintf("changes[%d].path", i), "%v", err))
			continue
		}
		out = append(out, parsedChange{path: p, value: mapping.Normalize(ch.Value)})
	}
	if len(errs) > 0 {
		return nil, invalid(op, domain.FieldErrors(errs...))
	}
	return out, nil
}

// Update applies changes to resource id of kind and returns it after the change. With PATCH
// (see the patch key) it sends one PatchOp: "replace" for a value, "remove" for nil; a filtered
// path that matches no element (`emails[type eq "work"].value` on a user without a work email)
// becomes an "add" of a new element, after a read of the resource. Without PATCH it reads the
// resource, applies the changes with mapping.Path.Set and replaces it (PUT). Either way the
// changes apply all or none.
func (c *Connector) Update(ctx context.Context, kind connectors.Kind, id string, changes []connectors.Change) (connectors.Resource, error) {
	op := "update " + string(kind)
	p, err := resourcePath(op, kind, id)
	if err != nil {
		return connectors.Resource{}, err
	}
	parsed, err := c.parseChanges(op, changes)
	if err != nil {
		return connectors.Resource{}, err
	}
	if len(parsed) == 0 {
		return c.Get(ctx, kind, id)
	}
	patch, err := c.usePatch(ctx, op)
	if err != nil {
		return connectors.Resource{}, err
	}
	if patch && kind == connectors.KindUser && c.s.profile.userPutOnly && !onlyActive(parsed) {
		patch = false
	}
	if !patch {
		return c.replace(ctx, op, kind, id, p, func(attrs map[string]any) error {
			for i, ch := range parsed {
				if err := ch.path.Set(attrs, ch.value); err != nil {
					return domain.Invalidf(fmt.Sprintf("changes[%d].path", i), "%v", err)
				}
			}
			return nil
		})
	}
	var current map[string]any
	for _, ch := range parsed {
		if ch.path.HasFilter() {
			r, err := c.Get(ctx, kind, id)
			if err != nil {
				return connectors.Resource{}, err
			}
			current = r.Attributes
			break
		}
	}
	ops := make([]patchOp, 0, len(parsed))
	for i, ch := range parsed {
		o, skip, err := opFor(ch, current)
		if err != nil {
			return connectors.Resource{}, invalid(op, domain.Invalidf(fmt.Sprintf("changes[%d].path", i), "%v", err))
		}
		if !skip {
			ops = append(ops, o)
		}
	}
	if len(ops) == 0 {
		return c.Get(ctx, kind, id)
	}
	return c.patch(ctx, op, kind, id, p, ops)
}

func onlyActive(changes []parsedChange) bool {
	for _, ch := range changes {
		if ch.path.Key() != "active" {
			return false
		}
	}
	return true
}

// opFor returns the PATCH operation of a change. current is the resource's attributes when
// the change has a value filter (nil otherwise). skip: nothing to do (removing what no element
// matches).
func opFor(ch parsedChange, current map[string]any) (patchOp, bool, error) {
	path := ch.path.String()
	if !ch.path.HasFilter() {
		if ch.value == nil {
			return patchOp{Op: "remove", Path: path}, false, nil
		}
		return patchOp{Op: "replace", Path: path, Value: ch.value}, false, nil
	}
	_, matched := ch.path.Get(current)
	if ch.value == nil {
		return patchOp{Op: "remove", Path: path}, !matched, nil
	}
	if matched {
		return patchOp{Op: "replace", Path: path, Value: ch.value}, false, nil
	}
	// No element matches the filter: add a new one, as Set builds it on an empty resource.
	scratch := map[string]any{}
	if err := ch.path.Set(scratch, ch.value); err != nil {
		return patchOp{}, false, err
	}
	parent := ch.path.Attribute()
	if uri := ch.path.URI(); uri != "" {
		parent = uri + ":" + parent
	}
	pp, err := mapping.ParsePath(parent)
	if err != nil {
		return patchOp{}, false, err
	}
	elems, ok := pp.Get(scratch)
	if !ok {
		return patchOp{}, false, fmt.Errorf("path %q: cannot build a new element", path)
	}
	return patchOp{Op: "add", Path: parent, Value: elems}, false, nil
}

func (c *Connector) patch(ctx context.Context, op string, kind connectors.Kind, id, p string, ops []patchOp) (connectors.Resource, error) {
	b, status, err := c.do(ctx, op, http.MethodPatch, p, nil, patchBody(ops))
	if err != nil {
		return connectors.Resource{}, err
	}
	if status == http.StatusNoContent || len(strings.TrimSpace(string(b))) == 0 {
		return c.Get(ctx, kind, id)
	}
	return decodeResource(op, b)
}

// replace reads resource id, lets modify change its attributes, and PUTs it back.
func (c *Connector) replace(ctx context.Context, op string, kind connectors.Kind, id, p string, modify func(map[string]any) error) (connectors.Resource, error) {
	r, err := c.Get(ctx, kind, id)
	if err != nil {
		return connectors.Resource{}, err
	}
	if err := modify(r.Attributes); err != nil {
		return connectors.Resource{}, invalid(op, err)
	}
	b, _, err := c.do(ctx, op, http.MethodPut, p, nil, body(kind, id, r.Attributes))
	if err != nil {
		return connectors.Resource{}, err
	}
	return decodeResource(op, b)
}

// UpdateMembers adds and removes members (target user IDs) of group groupID: with PATCH, one
// PatchOp ("add" on members, "remove" of members[value eq …]); without, read, modify and PUT.
// Adding a present member or removing an absent one is not an error.
func (c *Connector) UpdateMembers(ctx context.Context, groupID string, add, remove []string) error {
	const op = "update group members"
	p, err := resourcePath(op, connectors.KindGroup, groupID)
	if err != nil {
		return err
	}
	for i, id := range append(append([]string{}, add...), remove...) {
		if id == "" {
			return invalid(op, domain.Invalidf(fmt.Sprintf("members[%d]", i), "empty member ID"))
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	patch, err := c.usePatch(ctx, op)
	if err != nil {
		return err
	}
	if !patch {
		_, err := c.replace(ctx, op, connectors.KindGroup, groupID, p, func(attrs map[string]any) error {
			attrs["members"] = editMembers(attrs["members"], add, remove)
			return nil
		})
		return err
	}
	var ops []patchOp
	if len(add) > 0 {
		vals := make([]map[string]any, len(add))
		for i, id := range add {
			vals[i] = map[string]any{"value": id}
		}
		ops = append(ops, patchOp{Op: "add", Path: "members", Value: vals})
	}
	for _, id := range remove {
		ops = append(ops, patchOp{Op: "remove", Path: "members[" + EqFilter("value", id) + "]"})
	}
	_, _, err = c.do(ctx, op, http.MethodPatch, p, nil, patchBody(ops))
	return err
}

// editMembers returns the member list with add appended (when absent) and remove dropped.
func editMembers(members any, add, remove []string) []any {
	list, _ := members.([]any)
	drop := make(map[string]bool, len(remove))
	for _, id := range remove {
		drop[id] = true
	}
	have := map[string]bool{}
	out := make([]any, 0, len(list)+len(add))
	for _, m := range list {
		mm, _ := m.(map[string]any)
		v, _ := mm["value"].(string)
		if drop[v] {
			continue
		}
		have[v] = true
		out = append(out, m)
	}
	for _, id := range add {
		if !have[id] && !drop[id] {
			have[id] = true
			out = append(out, map[string]any{"value": id})
		}
	}
	return out
}
