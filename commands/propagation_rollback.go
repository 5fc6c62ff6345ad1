package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// RollbackPropagationRevision brings a published revision back: the draft becomes its content
// and that content is published again as a new revision restored from it.
type RollbackPropagationRevision struct {
	EnvironmentID string
	RevisionID    string
	// Description of the new revision; empty: "rollback to revision <n>".
	Description string
}

// RollbackPropagationRevisionHandler handles RollbackPropagationRevision.
type RollbackPropagationRevisionHandler struct{ d *Deps }

// NewRollbackPropagationRevision returns the handler of RollbackPropagationRevision.
func NewRollbackPropagationRevision(d *Deps) *RollbackPropagationRevisionHandler {
	return &RollbackPropagationRevisionHandler{d: d}
}

// Handle appends propagation.draft_reset and propagation.revision_published (RestoredFrom set)
// in one append. When the latest revision already has the revision's content, only the draft
// is reset (its edits dropped) and Result.Revision is zero. Errors: NOT_FOUND on "revisionId";
// CONFLICT "nothing to roll back" when the draft and the latest revision both have its content.
func (h *RollbackPropagationRevisionHandler) Handle(ctx context.Context, in RollbackPropagationRevision) (PropagationRevisionResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("revisionId", in.RevisionID)
	}
	if err != nil {
		return PropagationRevisionResult{}, fmt.Errorf("roll back propagation revision: %w", err)
	}
	id := d.NewID()
	events, pos, _, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.Rollback(env, in.RevisionID, id, in.Description)
	})
	if err != nil {
		return PropagationRevisionResult{}, fmt.Errorf("roll back to propagation revision %s: %w", in.RevisionID, err)
	}
	out := PropagationRevisionResult{Position: pos}
	for _, e := range events {
		if rev, ok := e.(domain.PropagationRevisionPublished); ok {
			out.Revision = rev
		}
	}
	return out, nil
}
