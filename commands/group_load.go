package commands

import (
	"context"
	"errors"
	"fmt"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// loadGroup loads group groupID of environment envID. A group that is missing, deleted or of
// another environment is ErrNotFound on field.
func (d *Deps) loadGroup(ctx context.Context, field, envID, groupID string) (*domain.Group, eventstore.ExpectedRevision, error) {
	if err := validID(field, groupID); err != nil {
		return nil, eventstore.NoStream, err
	}
	g := &domain.Group{}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryGroup, groupID), g)
	if err != nil {
		return nil, expected, err
	}
	if !g.Exists || g.EnvironmentID != envID {
		return nil, expected, &domain.FieldError{Field: field, Reason: "no group " + groupID + " in this environment", Kind: domain.ErrNotFound}
	}
	return g, expected, nil
}

// loadGroupTree folds the nesting edges of environment envID.
func (d *Deps) loadGroupTree(ctx context.Context, envID string) (*domain.GroupTree, eventstore.ExpectedRevision, error) {
	t := &domain.GroupTree{EnvironmentID: envID}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryGroupTree, envID), t)
	return t, expected, err
}

// groupHoldsName is the holds check of group name reservations.
func (d *Deps) groupHoldsName(name string) holdsFunc {
	return func(ctx context.Context, owner string) (bool, error) {
		g := &domain.Group{}
		if _, err := d.load(ctx, owner, g); err != nil {
			return false, err
		}
		return g.Exists && NormalizeUnique(g.Name) == NormalizeUnique(name), nil
	}
}

// validateGroupFilter checks a dynamic group's SCIM filter (RFC 7644 §3.4.2.2): it must parse,
// and name only core or system user attributes (domain.CanonicalUserAttribute) or custom
// attributes of schema. Errors are *domain.FieldError on "filter".
func validateGroupFilter(expr string, schema *domain.Schema) (err error) {
	if expr == "" {
		return nil
	}
	defer func() {
		if r := recover(); r != nil { // the parser panics on some inputs; they are still only bad input
			err = domain.FilterSyntaxError("filter", expr, "")
		}
	}()
	parsed, err := filter.ParseFilter([]byte(expr))
	if err != nil {
		return domain.FilterSyntaxError("filter", expr, err.Error())
	}
	var errs []error
	check := func(path filter.AttributePath, prefix string) {
		name := prefix + path.AttributeName
		full := name
		if path.SubAttribute != nil {
			full += "." + *path.SubAttribute
		}
		if _, ok := domain.CanonicalUserAttribute(full); ok {
			return
		}
		if def, ok := schema.Attribute(name); ok && prefix == "" && (path.SubAttribute == nil || def.Type == domain.AttributeJSON) {
			return
		}
		errs = append(errs, domain.Invalidf("filter", "unknown attribute %q", full))
	}
	var walk func(e filter.Expression, prefix string)
	walk = func(e filter.Expression, prefix string) {
		switch x := e.(type) {
		case *filter.AttributeExpression:
			check(x.AttributePath, prefix)
		case *filter.LogicalExpression:
			walk(x.Left, prefix)
			walk(x.Right, prefix)
		case *filter.NotExpression:
			walk(x.Expression, prefix)
		case *filter.ValuePath:
			walk(x.ValueFilter, x.AttributePath.AttributeName+".")
		default:
			errs = append(errs, domain.Invalidf("filter", "unsupported expression %v", fmt.Sprint(e)))
		}
	}
	walk(parsed, "")
	return errors.Join(errs...)
}
