package embedded_test

import (
	"testing"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/eventstore/storetest"
)

// The embedded store passes the same conformance suite as every backend.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s, err := embedded.Open(t.TempDir(), embedded.Options{MaxAppendBytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.Features{DensePositions: true, MaxAppendBytes: 4 << 20, CaughtUpMessage: true, StrictRetryMatching: true})
}
