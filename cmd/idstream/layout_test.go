package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The import rule of DESIGN.md, checked on the real module. Test files are not checked: any
// test may import what it exercises (a backend's tests import storetest, for example).
//
//	domain/...       the standard library only
//	eventstore/...   nothing of ours outside eventstore/
//	commands/...     domain, eventstore
//	projections/...  domain, eventstore
//	graph/...        commands, projections, domain, and the eventstore port package itself
//	                 (for eventstore.Position in payloads and read-your-writes waits)
//	connectors/...   commands, projections, domain, eventstore
//	cmd/...          anything
//
// "eventstore" above is the port package: a backend subpackage (any eventstore/X but
// eventstore/storetest) is imported by cmd/... and by its own subtree only, and
// eventstore/storetest by eventstore/... only. Third-party modules are allowed everywhere but
// in domain.

// allowedTopLevel lists the folders DESIGN.md allows at the top of the repository.
func allowedTopLevel() []string {
	return []string{"domain", "commands", "projections", "graph", "eventstore", "connectors", "cmd", ".ci", ".git"}
}

// allowedOurs maps a top-level folder to the top-level folders its packages may import, beyond
// their own folder. "eventstore" here means the port package only (see isPort).
func allowedOurs(top string) (allowed []string, ok bool) {
	switch top {
	case "domain", "eventstore":
		return nil, true
	case "commands", "projections":
		return []string{"domain", "eventstore"}, true
	case "graph":
		return []string{"commands", "projections", "domain", "eventstore"}, true
	case "connectors":
		return []string{"commands", "projections", "domain", "eventstore"}, true
	}
	return nil, false
}

// listedPackage is the part of `go list -json` output the rule needs.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
}

// importViolations returns one line per breach of the import rule among pkgs (the output of
// `go list -deps`, so that the standard library is known by its Standard flag).
func importViolations(module string, pkgs []listedPackage) []string {
	std := map[string]bool{"C": false}
	for _, p := range pkgs {
		std[p.ImportPath] = p.Standard
	}
	ours := func(path string) (rel string, ok bool) {
		if path == module {
			return "", true
		}
		rel, ok = strings.CutPrefix(path, module+"/")
		return rel, ok
	}
	var bad []string
	for _, p := range pkgs {
		from, ok := ours(p.ImportPath)
		if !ok {
			continue
		}
		fromTop, _, _ := strings.Cut(from, "/")
		if fromTop == "cmd" {
			continue
		}
		allowed, known := allowedOurs(fromTop)
		if !known {
			bad = append(bad, fmt.Sprintf("%s: package in top-level folder %q, which DESIGN.md does not allow", p.ImportPath, fromTop))
			continue
		}
		for _, imp := range p.Imports {
			to, isOurs := ours(imp)
			switch {
			case !isOurs && fromTop == "domain" && !std[imp]:
				bad = append(bad, fmt.Sprintf("%s imports %s: domain may import the standard library only", p.ImportPath, imp))
			case !isOurs:
				// The standard library or a third-party module.
			case isBackend(to) && !within(from, backendRoot(to)):
				bad = append(bad, fmt.Sprintf("%s imports backend %s: only cmd/... may import a backend subpackage", p.ImportPath, imp))
			case to == "eventstore/storetest" || strings.HasPrefix(to, "eventstore/storetest/"):
				if fromTop != "eventstore" {
					bad = append(bad, fmt.Sprintf("%s imports %s: the conformance suite is for eventstore's own packages and tests", p.ImportPath, imp))
				}
			default:
				toTop, _, _ := strings.Cut(to, "/")
				if toTop == fromTop {
					continue
				}
				if toTop == "eventstore" && to != "eventstore" {
					// Already handled: backends and storetest; no other eventstore subpackage is meant to be shared.
					bad = append(bad, fmt.Sprintf("%s imports %s: outside eventstore/, import only the port package eventstore", p.ImportPath, imp))
					continue
				}
				if !slices.Contains(allowed, toTop) {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s", p.ImportPath, imp, describe(fromTop, allowed)))
				}
			}
		}
	}
	return bad
}

// isBackend reports whether rel (a path inside the module) is in an event-store backend: any
// subpackage of eventstore but the conformance suite.
func isBackend(rel string) bool {
	sub, ok := strings.CutPrefix(rel, "eventstore/")
	return ok && sub != "storetest" && !strings.HasPrefix(sub, "storetest/")
}

// backendRoot returns "eventstore/X" for a path inside backend X.
func backendRoot(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	return parts[0] + "/" + parts[1]
}

func within(rel, root string) bool { return rel == root || strings.HasPrefix(rel, root+"/") }

func describe(top string, allowed []string) string {
	switch top {
	case "domain":
		return "domain may import the standard library only"
	case "eventstore":
		return "eventstore may import nothing of ours outside eventstore/"
	}
	return top + " may import only " + strings.Join(allowed, ", ") + " of ours"
}

// topLevelViolations returns the top-level folders not in allowedTopLevel.
func topLevelViolations(dirs []string) []string {
	allowed := allowedTopLevel()
	var bad []string
	for _, d := range dirs {
		if !slices.Contains(allowed, d) {
			bad = append(bad, fmt.Sprintf("top-level folder %q: DESIGN.md allows only %s (tests' data goes in testdata/ beside its package)", d, strings.Join(allowed, ", ")))
		}
	}
	return bad
}

// goTool returns the go command, skipping the test loudly when there is none (failing under
// CI=true, where a missing toolchain is a broken machine, not a reason to pass).
func goTool(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go command is not on PATH (%v); under CI=true the layout check must run", err)
		}
		t.Skipf("SKIPPING the layout check: the go command is not on PATH (%v)", err)
	}
	return goBin
}

// moduleRoot returns the repository root and the module path, from the go.mod two levels up.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatalf("read go.mod at the repository root: %v", err)
	}
	for line := range strings.Lines(string(mod)) {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return dir, strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	t.Fatalf("%s/go.mod has no module line", dir)
	return "", ""
}

func TestImportRule(t *testing.T) {
	goBin := goTool(t)
	root, module := moduleRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "list", "-deps", "-json=ImportPath,Standard,Imports", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	var checked int
	for _, p := range pkgs {
		if p.ImportPath == module || strings.HasPrefix(p.ImportPath, module+"/") {
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("go list found no package of %s under %s", module, root)
	}
	for _, v := range importViolations(module, pkgs) {
		t.Error(v)
	}
	t.Logf("checked the imports of %d packages of %s", checked, module)
}

func TestTopLevelFolders(t *testing.T) {
	root, _ := moduleRoot(t)
	for _, v := range topLevelViolations(topLevelDirs(t, root)) {
		t.Error(v)
	}
}

// topLevelDirs lists the top-level folders holding tracked files, so that a local ./data left by
// "make run" is no finding. Without git, it lists the directory, less that ./data.
func topLevelDirs(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	if git, err := exec.LookPath("git"); err == nil {
		cmd := exec.CommandContext(t.Context(), git, "ls-files", "-z")
		cmd.Dir = root
		out, err := cmd.Output()
		if err == nil {
			for f := range strings.SplitSeq(string(out), "\x00") {
				if top, _, isDir := strings.Cut(f, "/"); isDir && !slices.Contains(dirs, top) {
					dirs = append(dirs, top)
				}
			}
			return dirs
		}
		t.Logf("git ls-files: %v; listing the directory instead", err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "data" {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}

// TestImportRuleCatchesViolations proves that the checks above can fail.
func TestImportRuleCatchesViolations(t *testing.T) {
	const m = "example.com/ids"
	pkgs := []listedPackage{
		{ImportPath: "fmt", Standard: true},
		{ImportPath: "github.com/google/uuid"},
		{ImportPath: m + "/domain", Imports: []string{"fmt", m + "/domain/internal/x"}},
		{ImportPath: m + "/domain/bad", Imports: []string{"github.com/google/uuid", m + "/eventstore"}},
		{ImportPath: m + "/eventstore", Imports: []string{"github.com/google/uuid"}},
		{ImportPath: m + "/eventstore/bad", Imports: []string{m + "/domain"}},
		{ImportPath: m + "/eventstore/embedded", Imports: []string{m + "/eventstore", m + "/eventstore/embedded/internal/wal"}},
		{ImportPath: m + "/eventstore/storetest", Imports: []string{m + "/eventstore", m + "/eventstore/embedded"}},
		{ImportPath: m + "/commands", Imports: []string{m + "/domain", m + "/eventstore", "github.com/google/uuid"}},
		{ImportPath: m + "/commands/bad", Imports: []string{m + "/projections", m + "/eventstore/embedded", m + "/eventstore/storetest"}},
		{ImportPath: m + "/projections", Imports: []string{m + "/graph"}},
		{ImportPath: m + "/graph", Imports: []string{m + "/commands", m + "/eventstore", m + "/eventstore/esdb"}},
		{ImportPath: m + "/connectors", Imports: []string{m + "/commands", m + "/projections", m + "/eventstore", m + "/graph"}},
		{ImportPath: m + "/cmd/idstream", Imports: []string{m + "/eventstore/embedded", m + "/graph", m + "/connectors"}},
		{ImportPath: m + "/internal/util"},
	}
	got := importViolations(m, pkgs)
	want := []string{
		m + "/domain/bad imports github.com/google/uuid: domain may import the standard library only",
		m + "/domain/bad imports " + m + "/eventstore: domain may import the standard library only",
		m + "/eventstore/bad imports " + m + "/domain: eventstore may import nothing of ours",
		m + "/eventstore/storetest imports backend " + m + "/eventstore/embedded",
		m + "/commands/bad imports " + m + "/projections: commands may import only domain, eventstore",
		m + "/commands/bad imports backend " + m + "/eventstore/embedded",
		m + "/commands/bad imports " + m + "/eventstore/storetest: the conformance suite",
		m + "/projections imports " + m + "/graph: projections may import only domain, eventstore",
		m + "/graph imports backend " + m + "/eventstore/esdb",
		m + "/connectors imports " + m + "/graph: connectors may import only",
		m + "/internal/util: package in top-level folder \"internal\"",
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("no violation reported starting with %q", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d violations, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}

	if got := topLevelViolations([]string{"cmd", "domain", ".ci", "internal", "docs"}); len(got) != 2 {
		t.Errorf("topLevelViolations found %d, want 2 (internal, docs): %q", len(got), got)
	}
}
