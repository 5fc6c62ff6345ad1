package commands

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
)

// parseID parses a UUID string produced by Deps.NewID.
func parseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("new ID %q: %w", s, err)
	}
	return id, nil
}

// validID checks a caller-supplied resource ID and names the field when it is not a UUID, so a
// malformed ID is INVALID rather than a stream name the store refuses.
func validID(field, id string) error {
	if id == "" {
		return domain.Invalidf(field, "is required")
	}
	if _, err := uuid.Parse(id); err != nil {
		return domain.Invalidf(field, "%q is not a valid ID", id)
	}
	return nil
}
