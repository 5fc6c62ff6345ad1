package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// PublishPropagationRevision publishes the draft: the runtime runs it from then on.
type PublishPropagationRevision struct {
	EnvironmentID string
	Description   string
}

// PropagationRevisionResult is the revision published (zero Number when a rollback only reset
// the draft) and the commit position.
type PropagationRevisionResult struct {
	Revision domain.PropagationRevisionPublished
	Position eventstore.Position
}

// PublishPropagationRevisionHandler handles PublishPropagationRevision.
type PublishPropagationRevisionHandler struct{ d *Deps }

// NewPublishPropagationRevision returns the handler of PublishPropagationRevision.
func NewPublishPropagationRevision(d *Deps) *PublishPropagationRevisionHandler {
	return &PublishPropagationRevisionHandler{d: d}
}

// Handle appends propagation.revision_published: the draft's snapshot (credentials sealed as
// they are), numbered, chained by hash to the previous revision. Errors: CONFLICT "nothing to
// publish" for an unchanged draft, CONFLICT naming the rules that do not map their correlation
// attribute; INVALID on "description".
func (h *PublishPropagationRevisionHandler) Handle(ctx context.Context, in PublishPropagationRevision) (PropagationRevisionResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err != nil {
		return PropagationRevisionResult{}, fmt.Errorf("publish propagation revision: %w", err)
	}
	id := d.NewID()
	events, pos, _, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.Publish(env, id, in.Description)
	})
	if err != nil {
		return PropagationRevisionResult{}, fmt.Errorf("publish propagation revision: %w", err)
	}
	return PropagationRevisionResult{Revision: events[0].(domain.PropagationRevisionPublished), Position: pos}, nil
}
