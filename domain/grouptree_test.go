package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestGroupTreeCycles(t *testing.T) {
	tree := &GroupTree{}
	nest := func(p, c string) error {
		evs, err := tree.Nest("e", p, c)
		for _, e := range evs {
			tree.Apply(e)
		}
		return err
	}
	for _, e := range [][2]string{{"A", "B"}, {"B", "C"}, {"A", "C"}, {"C", "D"}} {
		if err := nest(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	err := nest("D", "A")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "D > A > B > C > D") {
		t.Fatalf("cycle: %v", err)
	}
	if err := nest("X", "X"); !errors.Is(err, ErrConflict) {
		t.Fatalf("self: %v", err)
	}
	if evs, err := tree.Nest("e", "A", "B"); err != nil || evs != nil {
		t.Fatalf("existing edge: %v, %v", evs, err)
	}
	if _, err := tree.Unnest("e", "B", "A"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unnest missing edge: %v", err)
	}
	got := tree.Detach("e", "C")
	want := []any{GroupUnnested{"e", "C", "D"}, GroupUnnested{"e", "A", "C"}, GroupUnnested{"e", "B", "C"}}
	if len(got) != len(want) {
		t.Fatalf("detach: %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("detach: %v, want %v", got, want)
		}
		tree.Apply(got[i])
	}
	if err := nest("D", "A"); err != nil {
		t.Fatalf("no cycle left: %v", err)
	}
}
