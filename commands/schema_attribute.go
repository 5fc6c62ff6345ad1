package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreateSchemaAttribute adds a custom attribute to an environment's user schema.
type CreateSchemaAttribute struct {
	EnvironmentID string
	Attribute     domain.AttributeDef
}

// CreateSchemaAttributeHandler handles CreateSchemaAttribute.
type CreateSchemaAttributeHandler struct{ d *Deps }

// NewCreateSchemaAttribute returns the handler of CreateSchemaAttribute.
func NewCreateSchemaAttribute(d *Deps) *CreateSchemaAttributeHandler {
	return &CreateSchemaAttributeHandler{d: d}
}

// Handle appends schema.attribute_added. The definition is validated (every problem at once);
// a name taken in any case is ErrConflict on "name". Additions commute, so a concurrent schema
// change is retried.
func (h *CreateSchemaAttributeHandler) Handle(ctx context.Context, in CreateSchemaAttribute) (Committed, error) {
	var out Committed
	err := retryOnConflict(ctx, func() error {
		env, _, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
		if err != nil {
			return err
		}
		s, expected, err := h.d.loadSchema(ctx, env.ID)
		if err != nil {
			return err
		}
		events, err := s.AddAttribute(env.ID, in.Attribute)
		if err != nil {
			return err
		}
		out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategorySchema, env.ID), expected, env.ID, s, events...)
		return err
	})
	return out, wrapOp("create schema attribute", err)
}

// UpdateSchemaAttribute replaces the definition of an existing custom attribute (named by
// Attribute.Name, any case; attributes are never renamed).
type UpdateSchemaAttribute struct {
	EnvironmentID string
	Attribute     domain.AttributeDef
}

// UpdateSchemaAttributeResult reports the commit and, when a rule narrowed, how many users held
// a value of the attribute then: their stored values are grandfathered, not re-checked, so some
// of them may not conform to the new rule (UsersHoldingValues bounds that number from above).
type UpdateSchemaAttributeResult struct {
	Position           eventstore.Position
	Narrowed           bool
	UsersHoldingValues int
}

// UpdateSchemaAttributeHandler handles UpdateSchemaAttribute.
type UpdateSchemaAttributeHandler struct {
	d     *Deps
	usage AttributeUsage
}

// NewUpdateSchemaAttribute returns the handler of UpdateSchemaAttribute; usage counts the users
// holding values.
func NewUpdateSchemaAttribute(d *Deps, usage AttributeUsage) *UpdateSchemaAttributeHandler {
	return &UpdateSchemaAttributeHandler{d: d, usage: usage}
}

// Handle appends schema.attribute_updated (see domain/schema.go for the defined effects). Type
// or multiValued changes and turning unique on are refused (ErrConflict) while users hold
// values; the count comes from a read model, so a value written concurrently is not seen. No
// change appends nothing; a concurrent schema change is ErrConflict.
func (h *UpdateSchemaAttributeHandler) Handle(ctx context.Context, in UpdateSchemaAttribute) (UpdateSchemaAttributeResult, error) {
	env, _, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return UpdateSchemaAttributeResult{}, fmt.Errorf("update schema attribute: %w", err)
	}
	s, expected, err := h.d.loadSchema(ctx, env.ID)
	if err != nil {
		return UpdateSchemaAttributeResult{}, fmt.Errorf("update schema attribute: %w", err)
	}
	change, err := s.CompareAttribute(in.Attribute)
	if err != nil {
		return UpdateSchemaAttributeResult{}, fmt.Errorf("update schema attribute: %w", err)
	}
	holding := 0
	if change.NeedsUsage && !change.NothingChanged {
		if holding, err = h.usage.UsersWithAttribute(ctx, env.ID, change.PreviousDefinition.Name); err != nil {
			return UpdateSchemaAttributeResult{}, fmt.Errorf("update schema attribute %s: count its values: %w", in.Attribute.Name, err)
		}
	}
	events, err := s.UpdateAttribute(env.ID, in.Attribute, holding)
	if err != nil {
		return UpdateSchemaAttributeResult{}, fmt.Errorf("update schema attribute %s: %w", in.Attribute.Name, err)
	}
	pos, err := h.d.appendEvents(ctx, domain.StreamName(domain.CategorySchema, env.ID), expected, env.ID, s, events...)
	if err != nil {
		return UpdateSchemaAttributeResult{}, fmt.Errorf("update schema attribute %s: %w", in.Attribute.Name, err)
	}
	res := UpdateSchemaAttributeResult{Position: pos, Narrowed: change.Narrowed && len(events) > 0}
	if res.Narrowed {
		res.UsersHoldingValues = holding
	}
	return res, nil
}

// DeleteSchemaAttribute removes a custom attribute. Without Force, an attribute that holds data
// is not removed.
type DeleteSchemaAttribute struct {
	EnvironmentID string
	Name          string
	Force         bool
}

// DeleteSchemaAttributeHandler handles DeleteSchemaAttribute.
type DeleteSchemaAttributeHandler struct {
	d     *Deps
	usage AttributeUsage
}

// NewDeleteSchemaAttribute returns the handler of DeleteSchemaAttribute.
func NewDeleteSchemaAttribute(d *Deps, usage AttributeUsage) *DeleteSchemaAttributeHandler {
	return &DeleteSchemaAttributeHandler{d: d, usage: usage}
}

// Handle appends schema.attribute_removed, or refuses with ErrConflict saying how many users
// hold values when some do and Force is false. A forced removal drops every user's value
// (projections do it on the event). A concurrent schema change is ErrConflict.
func (h *DeleteSchemaAttributeHandler) Handle(ctx context.Context, in DeleteSchemaAttribute) (Committed, error) {
	env, _, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete schema attribute: %w", err)
	}
	s, expected, err := h.d.loadSchema(ctx, env.ID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete schema attribute: %w", err)
	}
	def, ok := s.Attribute(in.Name)
	if !ok {
		return Committed{}, fmt.Errorf("delete schema attribute: %w", &domain.FieldError{Field: "name", Reason: fmt.Sprintf("no attribute %q", in.Name), Kind: domain.ErrNotFound})
	}
	holding, err := h.usage.UsersWithAttribute(ctx, env.ID, def.Name)
	if err != nil {
		return Committed{}, fmt.Errorf("delete schema attribute %s: count its values: %w", def.Name, err)
	}
	events, err := s.RemoveAttribute(env.ID, def.Name, holding, in.Force)
	if err != nil {
		return Committed{}, fmt.Errorf("delete schema attribute %s: %w", def.Name, err)
	}
	pos, err := h.d.appendEvents(ctx, domain.StreamName(domain.CategorySchema, env.ID), expected, env.ID, s, events...)
	if err != nil {
		return Committed{}, fmt.Errorf("delete schema attribute %s: %w", def.Name, err)
	}
	return Committed{Position: pos}, nil
}
