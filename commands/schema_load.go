package commands

import (
	"context"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// AttributeUsage counts the users holding a value of a custom attribute. Commands may not read
// read models, so the schema commands take this port; projections implement it. Its answer may
// lag the log.
type AttributeUsage interface {
	UsersWithAttribute(ctx context.Context, envID, name string) (int, error)
}

// loadSchema folds the user schema of environment envID (an environment's schema stream may
// not exist yet: no custom attributes).
func (d *Deps) loadSchema(ctx context.Context, envID string) (*domain.Schema, eventstore.ExpectedRevision, error) {
	s := &domain.Schema{EnvironmentID: envID}
	expected, err := d.load(ctx, domain.StreamName(domain.CategorySchema, envID), s)
	return s, expected, err
}
