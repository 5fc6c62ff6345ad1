package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// Limits on a mapping's text fields (outside input).
const (
	maxSourcePathLen = 256
	maxConstantLen   = 4096
)

// Check validates one mapping: Target parses as a SCIM path, Source is known, an ATTRIBUTE
// Value is a valid dotted source path, an EXPRESSION Value compiles, a CONSTANT Value and
// Default are bounded, ApplyOn is known (empty means ALWAYS). Every problem is reported, as a
// *domain.FieldError (kind domain.ErrInvalid) naming the field: "target", "source", "value",
// "applyOn", "default"; several are joined (errors.Join). The commands layer calls it.
func Check(m domain.AttributeMapping) error {
	_, err := compileOne(m)
	return err
}

// mapping is one compiled mapping.
type mapping struct {
	index    int
	def      domain.AttributeMapping
	target   Path
	srcPath  string      // ATTRIBUTE: the source path
	constant any         // CONSTANT: the value
	expr     *Expression // EXPRESSION
	onCreate bool
	dflt     any // the default, nil when none
}

func compileOne(m domain.AttributeMapping) (mapping, error) {
	var errs []error
	out := mapping{def: m}
	target, err := ParsePath(m.Target)
	if err != nil {
		errs = append(errs, domain.Invalidf("target", "%v", err))
	}
	out.target = target
	switch m.Source {
	case domain.MapAttribute:
		if err := checkSourcePath(m.Value); err != nil {
			errs = append(errs, domain.Invalidf("value", "source attribute %q: %v", m.Value, err))
		}
		out.srcPath = m.Value
	case domain.MapConstant:
		if len(m.Value) > maxConstantLen {
			errs = append(errs, domain.Invalidf("value", "constant longer than %d bytes", maxConstantLen))
		}
		if m.Value != "" {
			out.constant = m.Value
		}
	case domain.MapExpression:
		e, err := CompileExpression(m.Value)
		if err != nil {
			errs = append(errs, domain.Invalidf("value", "%v", err))
		}
		out.expr = e
	default:
		errs = append(errs, domain.Invalidf("source", "unknown source %q (ATTRIBUTE, CONSTANT or EXPRESSION)", m.Source))
	}
	switch m.ApplyOn {
	case "", domain.ApplyAlways:
	case domain.ApplyOnCreate:
		out.onCreate = true
	default:
		errs = append(errs, domain.Invalidf("applyOn", "unknown value %q (ALWAYS or ON_CREATE)", m.ApplyOn))
	}
	if len(m.Default) > maxConstantLen {
		errs = append(errs, domain.Invalidf("default", "longer than %d bytes", maxConstantLen))
	}
	if m.Default != "" {
		out.dflt = m.Default
	}
	return out, errors.Join(errs...)
}

// checkSourcePath validates a dotted source attribute path: non-empty names, bounded, no
// control characters (names may contain spaces: custom attributes).
func checkSourcePath(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("empty")
	}
	if len(p) > maxSourcePathLen {
		return fmt.Errorf("longer than %d bytes", maxSourcePathLen)
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == '\uFFFD' {
			return errors.New("contains a control or invalid character")
		}
	}
	for _, part := range strings.Split(p, ".") {
		if strings.TrimSpace(part) == "" {
			return errors.New("has an empty name between dots")
		}
	}
	return nil
}

// Set is a compiled rule's mapping set. It is immutable and safe for concurrent use.
type Set struct {
	ms      []mapping
	hasExpr bool
	paths   map[string]Path // canonical target path → parsed; read-only after Compile
}

// Compile compiles a rule's mappings. It reports every problem (errors.Join), each a
// *domain.FieldError (kind domain.ErrInvalid) whose field names the mapping by index
// ("mappings[2].value") and whose reason names its target. Two mappings of the same target
// path (names compared case-insensitively), or of a whole attribute and a part of it
// (`name` and `name.givenName`), are an error.
func Compile(ms []domain.AttributeMapping) (*Set, error) {
	s := &Set{ms: make([]mapping, 0, len(ms)), paths: make(map[string]Path, len(ms))}
	var errs []error
	seen := map[string]int{}   // target key → index
	wholes := map[string]int{} // attribute key of a whole-attribute target → index
	parts := map[string]int{}  // attribute key of a partial target → index
	for i, m := range ms {
		c, err := compileOne(m)
		if err != nil {
			errs = append(errs, prefixed(i, m.Target, err))
			continue
		}
		c.index = i
		key := c.target.Key()
		attrKey := strings.ToLower(rootKey(c.target) + "\x00" + c.target.attr)
		if j, dup := seen[key]; dup {
			errs = append(errs, domain.Invalidf(fmt.Sprintf("mappings[%d].target", i), "target %q is already mapped by mappings[%d]", m.Target, j))
			continue
		}
		whole := !c.target.HasFilter() && c.target.sub == ""
		if j, ok := parts[attrKey]; ok && whole {
			errs = append(errs, domain.Invalidf(fmt.Sprintf("mappings[%d].target", i), "target %q overlaps mappings[%d] (%q)", m.Target, j, ms[j].Target))
			continue
		}
		if j, ok := wholes[attrKey]; ok && !whole {
			errs = append(errs, domain.Invalidf(fmt.Sprintf("mappings[%d].target", i), "target %q overlaps mappings[%d] (%q)", m.Target, j, ms[j].Target))
			continue
		}
		seen[key] = i
		if whole {
			wholes[attrKey] = i
		} else {
			parts[attrKey] = i
		}
		s.hasExpr = s.hasExpr || c.expr != nil
		s.ms = append(s.ms, c)
		s.paths[c.target.String()] = c.target
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// rootKey returns the object key a path's attribute lives under ("" for the top level).
func rootKey(p Path) string {
	if p.uri == "" || strings.HasPrefix(strings.ToLower(p.uri), coreSchemaPrefix) {
		return ""
	}
	return p.uri
}

// prefixed re-labels Check's field errors with the mapping's index and target.
func prefixed(i int, target string, err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var fe *domain.FieldError
		if errors.As(e, &fe) {
			out = append(out, &domain.FieldError{
				Field:  fmt.Sprintf("mappings[%d].%s", i, fe.Field),
				Reason: fmt.Sprintf("mapping of %q: %s", target, fe.Reason),
				Kind:   fe.Kind,
			})
			continue
		}
		out = append(out, domain.Invalidf(fmt.Sprintf("mappings[%d]", i), "mapping of %q: %v", target, e))
	}
	return errors.Join(out...)
}

// Len returns the number of mappings.
func (s *Set) Len() int { return len(s.ms) }

// Targets returns the canonical target paths, in mapping order.
func (s *Set) Targets() []string {
	out := make([]string, len(s.ms))
	for i, m := range s.ms {
		out[i] = m.target.String()
	}
	return out
}

// Evaluate returns the desired target values for a source identity: one Change per mapping,
// in mapping order, with Path the canonical target path; ON_CREATE mappings only when
// creating. An empty value (absent, nil or "") takes the mapping's Default when it has one,
// else gives a Change with a nil Value (the attribute should be absent). Values are
// JSON-shaped (string, float64, bool, []any, map[string]any). Errors name the mapping (index
// and target); every failing mapping is reported.
func (s *Set) Evaluate(src map[string]any, creating bool) ([]connectors.Change, error) {
	var env map[string]any
	if s.hasExpr {
		env = newEnv(src)
	}
	out := make([]connectors.Change, 0, len(s.ms))
	var errs []error
	for _, m := range s.ms {
		if m.onCreate && !creating {
			continue
		}
		var v any
		switch {
		case m.expr != nil:
			r, err := m.expr.run(env)
			if err != nil {
				errs = append(errs, fmt.Errorf("mappings[%d] (target %q): %w", m.index, m.def.Target, err))
				continue
			}
			v = r
		case m.def.Source == domain.MapAttribute:
			r, _ := SourceValue(src, m.srcPath)
			v = Normalize(r)
		default:
			v = m.constant
		}
		if v == nil || v == "" {
			v = m.dflt
		}
		out = append(out, connectors.Change{Path: m.target.String(), Value: v})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Value returns the Value of the change of path (compared as paths: case-insensitively) and
// whether there is one.
func Value(changes []connectors.Change, path string) (any, bool) {
	return value(parsePath, changes, path)
}

// Value is the package's Value, resolving the Set's own targets without parsing them.
func (s *Set) Value(changes []connectors.Change, path string) (any, bool) {
	return value(s.path, changes, path)
}

func value(parse func(string) (Path, error), changes []connectors.Change, path string) (any, bool) {
	p, err := parse(path)
	if err != nil {
		return nil, false
	}
	key := p.Key()
	for _, c := range changes {
		if c.Path == path {
			return c.Value, true
		}
		if q, err := parse(c.Path); err == nil && q.Key() == key {
			return c.Value, true
		}
	}
	return nil, false
}

// Build returns a new resource object for a create: each change with a non-nil Value set at
// its path (nil values are left out). It fails, naming the path, on a change whose path does
// not parse or whose value conflicts with another's shape.
func Build(changes []connectors.Change) (map[string]any, error) {
	return build(parsePath, changes)
}

// Build is the package's Build, resolving the Set's own targets without parsing them.
func (s *Set) Build(changes []connectors.Change) (map[string]any, error) {
	return build(s.path, changes)
}

func build(parse func(string) (Path, error), changes []connectors.Change) (map[string]any, error) {
	obj := map[string]any{}
	for _, c := range changes {
		if c.Value == nil {
			continue
		}
		p, err := parse(c.Path)
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		if err := p.Set(obj, Normalize(c.Value)); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	return obj, nil
}

// Extensions returns, sorted, the top-level keys of obj that are schema URNs holding an
// object (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`): the extension
// schemas a SCIM resource built by Build uses, which its "schemas" list must name.
func Extensions(obj map[string]any) []string {
	var out []string
	for k, v := range obj {
		if _, ok := v.(map[string]any); ok && len(k) > 4 && strings.EqualFold(k[:4], "urn:") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Apply applies changes to obj in place, in order: a non-nil Value is set at its path, a nil
// one removes the attribute (see Path.Set and Path.Remove). It is the read-modify-replace
// (PUT) fallback. On error, naming the path, obj may hold the changes before the failing one.
func Apply(obj map[string]any, changes []connectors.Change) error {
	return apply(parsePath, obj, changes)
}

// Apply is the package's Apply, resolving the Set's own targets without parsing them.
func (s *Set) Apply(obj map[string]any, changes []connectors.Change) error {
	return apply(s.path, obj, changes)
}

func apply(parse func(string) (Path, error), obj map[string]any, changes []connectors.Change) error {
	for _, c := range changes {
		p, err := parse(c.Path)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if err := p.Set(obj, Normalize(c.Value)); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	return nil
}

// Diff returns the desired changes whose value differs from current's value at the change's
// path (a filtered path reads the matching element). Values compare JSON-normalized (1 ==
// 1.0; strings exactly); a nil desired Value equals an absent, null or "" current value. A
// change whose path does not parse is kept (it differs).
//
// Diff parses each change's path; a Set's own Diff does not, for its targets (a filtered
// path costs the filter parser about a hundred microseconds).
func Diff(desired []connectors.Change, current map[string]any) []connectors.Change {
	return diff(parsePath, desired, current)
}

// Diff is the package's Diff, resolving the Set's own targets without parsing them: use it
// for the changes of the Set's Evaluate.
func (s *Set) Diff(desired []connectors.Change, current map[string]any) []connectors.Change {
	return diff(s.path, desired, current)
}

func diff(parse func(string) (Path, error), desired []connectors.Change, current map[string]any) []connectors.Change {
	var out []connectors.Change
	for _, c := range desired {
		p, err := parse(c.Path)
		if err != nil {
			out = append(out, c)
			continue
		}
		cur, ok := p.Get(current)
		if c.Value == nil {
			if ok && cur != nil && cur != "" {
				out = append(out, c)
			}
			continue
		}
		if !ok || !Equal(c.Value, cur) {
			out = append(out, c)
		}
	}
	return out
}

// path resolves one of the Set's targets from its table, parsing any other path.
func (s *Set) path(p string) (Path, error) {
	if q, ok := s.paths[p]; ok {
		return q, nil
	}
	return parsePath(p)
}

// parsePath parses a change's path. Simple attribute paths (`userName`, `name.givenName`)
// take a fast path that does not run the filter parser; they are what most mappings target.
func parsePath(s string) (Path, error) {
	if p, ok := simplePath(s); ok {
		return p, nil
	}
	return ParsePath(s)
}

// simplePath recognizes `attr` and `attr.sub` made of SCIM name characters (ALPHA then
// ALPHA / DIGIT / "-" / "_"), the grammar's ATTRNAME.
func simplePath(s string) (Path, bool) {
	attr, sub, dotted := strings.Cut(s, ".")
	if !isAttrName(attr) || (dotted && !isAttrName(sub)) {
		return Path{}, false
	}
	return Path{attr: attr, sub: sub}, true
}

func isAttrName(s string) bool {
	if s == "" || len(s) > maxPathLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !alpha {
			return false
		}
		if !alpha && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
