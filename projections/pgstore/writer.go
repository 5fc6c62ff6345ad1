package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// Writer applies changes to an in-memory Directory and writes what they touched, with the
// checkpoint, on its own connection. It is the Projector's write path, usable alone where
// changes do not come from a log (tests). Not safe for concurrent use.
type Writer struct {
	conn   *pgx.Conn
	schema string
	dir    *projections.Directory
}

// NewWriter connects a writer for s's schema, folding into dir (whose state the tables must
// already reflect: a fresh Directory for fresh tables).
func (s *Store) NewWriter(ctx context.Context, dir *projections.Directory) (*Writer, error) {
	conn, err := pgx.ConnectConfig(ctx, s.conn)
	if err != nil {
		return nil, unavailable("connect the writer", err)
	}
	return &Writer{conn: conn, schema: s.opts.Schema, dir: dir}, nil
}

// Apply folds changes into the Directory and writes the rows they touched and the checkpoint
// in one transaction.
func (w *Writer) Apply(ctx context.Context, changes ...projections.Change) error {
	w.dir.Apply(changes...)
	return w.Persist(ctx, changes, w.dir.Position())
}

// Persist writes the rows changes touched, as the Directory holds them now, with checkpoint
// upTo (the changes are already folded).
func (w *Writer) Persist(ctx context.Context, changes []projections.Change, upTo eventstore.Position) error {
	if err := writeBatch(ctx, w.conn, w.schema, w.dir, changes, upTo); err != nil {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return nil
}

// Close closes the writer's connection.
func (w *Writer) Close() { w.conn.Close(context.Background()) }
