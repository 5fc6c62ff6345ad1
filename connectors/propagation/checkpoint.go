package propagation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/idstream/idstream/eventstore"
)

// Checkpoints stores the forwarder's position durably: every event at or before it has been
// published and acknowledged by the bus.
type Checkpoints interface {
	// Load returns the stored position of name (zero when none).
	Load(ctx context.Context, name string) (eventstore.Position, error)
	// Save stores pos for name durably before returning.
	Save(ctx context.Context, name string, pos eventstore.Position) error
}

// FileCheckpoints stores each checkpoint in a file of a directory (the data directory),
// replaced atomically (write to a temporary file, fsync, rename, fsync the directory).
type FileCheckpoints struct {
	Dir string
}

var _ Checkpoints = FileCheckpoints{}

func (f FileCheckpoints) path(name string) string {
	return filepath.Join(f.Dir, "checkpoint-"+strings.NewReplacer("/", "_", string(os.PathSeparator), "_").Replace(name))
}

// Load implements Checkpoints.
func (f FileCheckpoints) Load(_ context.Context, name string) (eventstore.Position, error) {
	b, err := os.ReadFile(f.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return eventstore.Position{}, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	pos, err := eventstore.ParsePosition(strings.TrimSpace(string(b)))
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return pos, nil
}

// Save implements Checkpoints.
func (f FileCheckpoints) Save(_ context.Context, name string, pos eventstore.Position) error {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(f.Dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(pos.String() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), f.path(name)); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if d, err := os.Open(f.Dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
