package eventstore

import (
	"fmt"
	"io"

	"github.com/google/uuid"
)

// NewEventID returns a UUIDv7 drawn from rand (crypto/rand.Reader in production, a seeded
// source in tests). UUIDv7s sort by creation time, which keeps ID indexes append-friendly.
func NewEventID(rand io.Reader) (uuid.UUID, error) {
	u, err := uuid.NewV7FromReader(rand)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("new event ID: %w", err)
	}
	return u, nil
}
