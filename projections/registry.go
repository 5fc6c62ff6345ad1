package projections

import (
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// NewRegistry returns a codec registry holding every directory event type at its current payload
// version (the same registrations as the write side's).
func NewRegistry() (*eventstore.Registry, error) {
	r := eventstore.NewRegistry()
	for _, et := range domain.EventTypes() {
		if err := r.RegisterValue(et.Name, et.Version, et.Payload); err != nil {
			return nil, err
		}
	}
	return r, nil
}
