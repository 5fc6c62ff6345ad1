package projections_test

import (
	"testing"

	"github.com/idstream/idstream/projections"
	"github.com/idstream/idstream/projections/readmodeltest"
)

func memoryHarness(t *testing.T) readmodeltest.Harness {
	d := projections.NewDirectory()
	return readmodeltest.Harness{Store: d, Apply: func(_ testing.TB, changes []projections.Change) { d.Apply(changes...) }}
}

func TestMemoryConformance(t *testing.T) { readmodeltest.Run(t, memoryHarness) }
