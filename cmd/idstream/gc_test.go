package main

import "testing"

func TestGCPercentYieldsToGOGC(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if p, ok := gcPercent(env(nil)); !ok || p != defaultGCPercent {
		t.Errorf("no GOGC: %d %v, want %d", p, ok, defaultGCPercent)
	}
	if _, ok := gcPercent(env(map[string]string{"GOGC": "50"})); ok {
		t.Error("GOGC=50 set: idstream overrode it")
	}
	if _, ok := gcPercent(env(map[string]string{"GOGC": "off"})); ok {
		t.Error("GOGC=off set: idstream overrode it")
	}
	if p, ok := gcPercent(env(map[string]string{"GOGC": ""})); !ok || p != defaultGCPercent {
		t.Errorf("empty GOGC counts as unset: %d %v", p, ok)
	}
}
