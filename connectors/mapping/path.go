package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// maxPathLen bounds a path's text: paths come from outside input (mapping configuration).
const maxPathLen = 1024

// coreSchemaPrefix starts the URNs of the SCIM core schemas, whose attributes sit at the top
// level of a resource (RFC 7643 §3), unlike an extension schema's, which sit under the URN key.
const coreSchemaPrefix = "urn:ietf:params:scim:schemas:core:"

// Path is a parsed SCIM attribute path (RFC 7644 §3.5.2 PATCH path syntax, the subset
// `[urn:…:]attr[.sub]` and `[urn:…:]attr[filter][.sub]`). The zero Path is not valid; build
// one with ParsePath. A Path is immutable and safe for concurrent use.
//
// Attribute names compare case-insensitively (SCIM). An extension schema URN prefix names a
// top-level object key (`{"urn:…:enterprise:2.0:User": {"employeeNumber": …}}`); a core
// schema URN prefix (urn:ietf:params:scim:schemas:core:…) resolves at the top level.
type Path struct {
	uri    string            // schema URN prefix, "" when none
	attr   string            // top-level attribute name
	filter filter.Expression // value filter on attr's elements, nil when none
	sub    string            // sub-attribute, "" when none
}

// ParsePath parses s as a SCIM attribute path, using the SCIM filter grammar for the value
// filter. Its errors name the path and the problem; Check wraps them as a field error of kind
// domain.ErrInvalid.
func ParsePath(s string) (Path, error) {
	if strings.TrimSpace(s) == "" {
		return Path{}, fmt.Errorf("path is empty")
	}
	if len(s) > maxPathLen {
		return Path{}, fmt.Errorf("path %.40q…: longer than %d bytes", s, maxPathLen)
	}
	attrText, filterText, subText, hasFilter, err := splitPath(s)
	if err != nil {
		return Path{}, fmt.Errorf("path %q: %w", s, err)
	}
	ap, err := parseAttr(attrText)
	if err != nil {
		return Path{}, fmt.Errorf("path %q: not a SCIM attribute path: %v", s, err)
	}
	p := Path{uri: ap.URI(), attr: ap.AttributeName, sub: ap.SubAttributeName()}
	if p.attr == "" {
		return Path{}, fmt.Errorf("path %q: no attribute name", s)
	}
	if !hasFilter {
		return p, nil
	}
	if p.sub != "" {
		return Path{}, fmt.Errorf("path %q: a value filter applies to a top-level attribute, not to sub-attribute %q", s, p.sub)
	}
	if subText != "" {
		sp, err := parseAttr(subText)
		if err != nil || sp.URIPrefix != nil || sp.SubAttribute != nil {
			return Path{}, fmt.Errorf("path %q: %q after the value filter is not a sub-attribute name", s, subText)
		}
		p.sub = sp.AttributeName
	}
	if strings.TrimSpace(filterText) == "" {
		return Path{}, fmt.Errorf("path %q: empty value filter", s)
	}
	e, err := parseFilter(filterText)
	if err != nil {
		return Path{}, fmt.Errorf("path %q: value filter %q: %v", s, filterText, err)
	}
	if err := checkFilter(e, 0); err != nil {
		return Path{}, fmt.Errorf("path %q: value filter: %w", s, err)
	}
	p.filter = e
	return p, nil
}

// splitPath cuts a path into its attribute path, the value filter between its brackets and
// the sub-attribute after them. It only finds the brackets (skipping quoted strings); the
// filter parser parses each part.
func splitPath(s string) (attr, filterText, sub string, hasFilter bool, err error) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if strings.ContainsAny(s, "]\"") {
			return "", "", "", false, fmt.Errorf("unexpected %q", s[strings.IndexAny(s, "]\""):][:1])
		}
		return s, "", "", false, nil
	}
	depth, inString, escaped := 0, false, false
	for i := open; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[':
			depth++
		case c == ']':
			depth--
			if depth == 0 {
				rest := s[i+1:]
				if rest != "" {
					if rest[0] != '.' {
						return "", "", "", false, fmt.Errorf("unexpected %q after the value filter", rest)
					}
					rest = rest[1:]
					if rest == "" {
						return "", "", "", false, fmt.Errorf("no sub-attribute name after the value filter")
					}
				}
				return s[:open], s[open+1 : i], rest, true, nil
			}
		}
	}
	return "", "", "", false, fmt.Errorf("unclosed value filter (missing \"]\")")
}

// parseAttr and parseFilter call the filter parser, turning a panic of it on hostile input
// into an error (the parser is third-party code and paths are outside input).
func parseAttr(s string) (ap filter.AttributePath, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failure: %v", r)
		}
	}()
	return filter.ParseAttrPath([]byte(s))
}

func parseFilter(s string) (e filter.Expression, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failure: %v", r)
		}
	}()
	return filter.ParseFilterNumber([]byte(s))
}

// maxFilterDepth bounds the nesting of a value filter.
const maxFilterDepth = 32

// checkFilter rejects filter forms the engine cannot evaluate (nested value paths) and
// excessive nesting, and unescapes string compare values in place (the parser keeps them as
// written between the quotes).
func checkFilter(e filter.Expression, depth int) error {
	if depth > maxFilterDepth {
		return fmt.Errorf("nested deeper than %d", maxFilterDepth)
	}
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if e.AttributePath.URIPrefix != nil {
			return fmt.Errorf("attribute %q: a schema URN is not allowed inside a value filter", e.AttributePath.String())
		}
		if raw, ok := e.CompareValue.(string); ok {
			var str string
			if err := json.Unmarshal([]byte(`"`+raw+`"`), &str); err != nil {
				return fmt.Errorf("attribute %q: compare value %q is not a valid string", e.AttributePath.String(), raw)
			}
			e.CompareValue = str
		}
		switch e.Operator {
		case filter.PR, filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.GT, filter.LT, filter.GE, filter.LE:
		default:
			return fmt.Errorf("unknown operator %q", e.Operator)
		}
		return nil
	case *filter.LogicalExpression:
		if err := checkFilter(e.Left, depth+1); err != nil {
			return err
		}
		return checkFilter(e.Right, depth+1)
	case *filter.NotExpression:
		return checkFilter(e.Expression, depth+1)
	case *filter.ValuePath:
		return fmt.Errorf("a nested value filter (%s[…]) is not supported", e.AttributePath.String())
	default:
		return fmt.Errorf("unsupported filter form %T", e)
	}
}

// MustParsePath is ParsePath for constant paths in code and tests; it panics on error.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path's canonical form: names as written, the filter with single spaces,
// JSON-quoted strings and parentheses where precedence needs them. ParsePath(p.String())
// gives an equal path.
func (p Path) String() string {
	var b strings.Builder
	if p.uri != "" {
		b.WriteString(p.uri)
		b.WriteByte(':')
	}
	b.WriteString(p.attr)
	if p.filter != nil {
		b.WriteByte('[')
		writeFilter(&b, p.filter, "")
		b.WriteByte(']')
	}
	if p.sub != "" {
		b.WriteByte('.')
		b.WriteString(p.sub)
	}
	return b.String()
}

// Key returns a comparison key: two paths that address the same attribute (names compared
// case-insensitively; a core schema URN prefix is the same as none) have the same key.
func (p Path) Key() string {
	if p.uri != "" && strings.HasPrefix(strings.ToLower(p.uri), coreSchemaPrefix) {
		q := p
		q.uri = ""
		return strings.ToLower(q.String())
	}
	return strings.ToLower(p.String())
}

// IsZero reports whether p is the zero Path (not parsed).
func (p Path) IsZero() bool { return p.attr == "" }

// Attribute returns the top-level attribute name (without URN prefix).
func (p Path) Attribute() string { return p.attr }

// URI returns the schema URN prefix, "" when none.
func (p Path) URI() string { return p.uri }

// SubAttribute returns the sub-attribute name, "" when none.
func (p Path) SubAttribute() string { return p.sub }

// HasFilter reports whether p has a value filter (`emails[type eq "work"]…`).
func (p Path) HasFilter() bool { return p.filter != nil }

func writeFilter(b *strings.Builder, e filter.Expression, parent filter.LogicalOperator) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		b.WriteString(e.AttributePath.String())
		b.WriteByte(' ')
		b.WriteString(string(e.Operator))
		if e.Operator != filter.PR {
			b.WriteByte(' ')
			b.WriteString(formatCompareValue(e.CompareValue))
		}
	case *filter.LogicalExpression:
		paren := parent != "" && parent != e.Operator
		if paren {
			b.WriteByte('(')
		}
		writeFilter(b, e.Left, e.Operator)
		b.WriteByte(' ')
		b.WriteString(string(e.Operator))
		b.WriteByte(' ')
		writeFilter(b, e.Right, e.Operator)
		if paren {
			b.WriteByte(')')
		}
	case *filter.NotExpression:
		b.WriteString("not (")
		writeFilter(b, e.Expression, "")
		b.WriteByte(')')
	}
}

func formatCompareValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		out, _ := json.Marshal(v)
		return string(out)
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return v.String()
	default:
		if f, ok := toFloat(v); ok {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return fmt.Sprint(v)
	}
}

// root returns the object the path's attribute lives in: obj itself, or for an extension URN
// the object under the URN key (created when create is set). ok is false when absent.
func (p Path) root(obj map[string]any, create bool) (map[string]any, bool) {
	if p.uri == "" || strings.HasPrefix(strings.ToLower(p.uri), coreSchemaPrefix) {
		return obj, obj != nil
	}
	if obj == nil {
		return nil, false
	}
	_, v, found := lookupKey(obj, p.uri)
	if found && v != nil {
		m, ok := v.(map[string]any)
		return m, ok
	}
	if !create {
		return nil, false
	}
	m := map[string]any{}
	setKey(obj, p.uri, m)
	return m, true
}

// Get returns the value at p in obj and whether it is present. A filtered path without a
// sub-attribute returns the first matching element; with one, that element's sub-attribute.
// An unfiltered sub-attribute of a multi-valued attribute (`emails.value`) returns the list
// of the elements' values present ([]any), absent when none.
func (p Path) Get(obj map[string]any) (any, bool) {
	r, ok := p.root(obj, false)
	if !ok {
		return nil, false
	}
	_, v, ok := lookupKey(r, p.attr)
	if !ok {
		return nil, false
	}
	if p.filter != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, false
		}
		for _, el := range list {
			m, ok := el.(map[string]any)
			if !ok || !matches(p.filter, m) {
				continue
			}
			if p.sub == "" {
				return m, true
			}
			_, sv, ok := lookupKey(m, p.sub)
			return sv, ok
		}
		return nil, false
	}
	if p.sub == "" {
		return v, true
	}
	switch v := v.(type) {
	case map[string]any:
		_, sv, ok := lookupKey(v, p.sub)
		return sv, ok
	case []any:
		var out []any
		for _, el := range v {
			if m, ok := el.(map[string]any); ok {
				if _, sv, ok := lookupKey(m, p.sub); ok {
					out = append(out, sv)
				}
			}
		}
		return out, out != nil
	}
	return nil, false
}

// Set sets the value at p in obj to v, creating intermediate objects (and the extension
// schema's object). Existing keys keep their spelling. For a filtered path, every matching
// element is set; when none matches, Set appends a new element carrying the filter's
// eq-attributes (Set `emails[type eq "work"].value` on {} gives
// {"emails":[{"type":"work","value":v}]}), which needs a filter made only of eq terms joined
// by and. A nil v removes (see Remove). Set fails, naming the path, where the shape of obj
// conflicts with the path (a scalar where an object or list is needed).
func (p Path) Set(obj map[string]any, v any) error {
	if p.IsZero() {
		return fmt.Errorf("set: zero path")
	}
	if v == nil {
		return p.Remove(obj)
	}
	if obj == nil {
		return fmt.Errorf("path %q: set on a nil object", p)
	}
	r, ok := p.root(obj, true)
	if !ok {
		return fmt.Errorf("path %q: schema key %q holds a non-object", p, p.uri)
	}
	k, cur, found := lookupKey(r, p.attr)
	if !found {
		k = p.attr
	}
	if p.filter == nil {
		if p.sub == "" {
			r[k] = v
			return nil
		}
		switch c := cur.(type) {
		case nil:
			r[k] = map[string]any{p.sub: v}
			return nil
		case map[string]any:
			sk, _, ok := lookupKey(c, p.sub)
			if !ok {
				sk = p.sub
			}
			c[sk] = v
			return nil
		case []any:
			return fmt.Errorf("path %q: %q is multi-valued; use a value filter to address one element", p, p.attr)
		default:
			return fmt.Errorf("path %q: %q holds a %s, not an object", p, p.attr, jsonKind(cur))
		}
	}
	var list []any
	switch c := cur.(type) {
	case nil:
	case []any:
		list = c
	default:
		return fmt.Errorf("path %q: %q holds a %s, not a list", p, p.attr, jsonKind(cur))
	}
	matched := false
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !matches(p.filter, m) {
			continue
		}
		matched = true
		if p.sub == "" {
			nm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("path %q: an element must be an object, not a %s", p, jsonKind(v))
			}
			list[i] = nm
			continue
		}
		sk, _, ok := lookupKey(m, p.sub)
		if !ok {
			sk = p.sub
		}
		m[sk] = v
	}
	if matched {
		return nil
	}
	el, err := p.newElement()
	if err != nil {
		return err
	}
	if p.sub == "" {
		nm, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("path %q: an element must be an object, not a %s", p, jsonKind(v))
		}
		for nk, nv := range nm {
			setKey(el, nk, nv)
		}
	} else {
		setKey(el, p.sub, v)
	}
	if !matches(p.filter, el) {
		return fmt.Errorf("path %q: a new element with this value would not match the filter", p)
	}
	r[k] = append(list, el)
	return nil
}

// newElement returns a new element carrying the filter's eq-attributes.
func (p Path) newElement() (map[string]any, error) {
	el := map[string]any{}
	if err := collectEq(p.filter, el); err != nil {
		return nil, fmt.Errorf("path %q: no element matches and none can be created: %w", p, err)
	}
	return el, nil
}

func collectEq(e filter.Expression, el map[string]any) error {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if e.Operator != filter.EQ {
			return fmt.Errorf("the filter has a %q term (only eq terms joined by and define a new element)", e.Operator)
		}
		v := normalizeNumber(e.CompareValue)
		if e.AttributePath.SubAttribute != nil {
			m, _ := el[e.AttributePath.AttributeName].(map[string]any)
			if m == nil {
				m = map[string]any{}
				el[e.AttributePath.AttributeName] = m
			}
			m[*e.AttributePath.SubAttribute] = v
			return nil
		}
		el[e.AttributePath.AttributeName] = v
		return nil
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return fmt.Errorf("the filter has an %q (only eq terms joined by and define a new element)", e.Operator)
		}
		if err := collectEq(e.Left, el); err != nil {
			return err
		}
		return collectEq(e.Right, el)
	default:
		return fmt.Errorf("the filter has a not (only eq terms joined by and define a new element)")
	}
}

// Remove removes the value at p from obj. For a filtered path without sub-attribute, it
// removes every matching element; with one, the sub-attribute of every matching element, and
// then the elements left with nothing but their filter's eq-attributes. A list or extension
// object left empty is removed too. Removing an absent value is a no-op. Remove fails only
// where obj's shape conflicts with the path.
func (p Path) Remove(obj map[string]any) error {
	r, ok := p.root(obj, false)
	if !ok {
		return nil
	}
	k, cur, found := lookupKey(r, p.attr)
	if !found {
		return nil
	}
	defer p.pruneRoot(obj, r)
	if p.filter == nil {
		if p.sub == "" {
			delete(r, k)
			return nil
		}
		switch c := cur.(type) {
		case nil:
			return nil
		case map[string]any:
			if sk, _, ok := lookupKey(c, p.sub); ok {
				delete(c, sk)
			}
			return nil
		case []any:
			return fmt.Errorf("path %q: %q is multi-valued; use a value filter to address one element", p, p.attr)
		default:
			return fmt.Errorf("path %q: %q holds a %s, not an object", p, p.attr, jsonKind(cur))
		}
	}
	list, ok := cur.([]any)
	if !ok {
		if cur == nil {
			return nil
		}
		return fmt.Errorf("path %q: %q holds a %s, not a list", p, p.attr, jsonKind(cur))
	}
	eq := map[string]any{}
	_ = collectEq(p.filter, eq) // best effort: which keys are the filter's own
	kept := list[:0:0]
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !matches(p.filter, m) {
			kept = append(kept, el)
			continue
		}
		if p.sub == "" {
			continue
		}
		if sk, _, ok := lookupKey(m, p.sub); ok {
			delete(m, sk)
		}
		if !onlyKeys(m, eq) {
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		delete(r, k)
	} else {
		r[k] = kept
	}
	return nil
}

// pruneRoot removes an extension schema's object left empty.
func (p Path) pruneRoot(obj, r map[string]any) {
	if len(r) != 0 || p.uri == "" || strings.HasPrefix(strings.ToLower(p.uri), coreSchemaPrefix) {
		return
	}
	if k, _, ok := lookupKey(obj, p.uri); ok {
		delete(obj, k)
	}
}

// onlyKeys reports whether every key of m is a key of keys (case-insensitively).
func onlyKeys(m, keys map[string]any) bool {
	if len(keys) == 0 {
		return len(m) == 0
	}
	for k := range m {
		if _, _, ok := lookupKey(keys, k); !ok {
			return false
		}
	}
	return true
}

// lookupKey finds name in m, exactly first, then case-insensitively; it returns the key as
// spelled in m.
func lookupKey(m map[string]any, name string) (string, any, bool) {
	if m == nil {
		return "", nil, false
	}
	if v, ok := m[name]; ok {
		return name, v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return k, v, true
		}
	}
	return "", nil, false
}

// setKey sets name in m, keeping an existing key's spelling.
func setKey(m map[string]any, name string, v any) {
	if k, _, ok := lookupKey(m, name); ok {
		m[k] = v
		return
	}
	m[name] = v
}

// matches evaluates a value filter against one element. String comparisons are
// case-insensitive (SCIM's default caseExact=false); numbers compare as float64.
func matches(e filter.Expression, el map[string]any) bool {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		v, ok := filterAttr(el, e.AttributePath)
		return compare(e.Operator, v, ok, e.CompareValue)
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			return matches(e.Left, el) && matches(e.Right, el)
		}
		return matches(e.Left, el) || matches(e.Right, el)
	case *filter.NotExpression:
		return !matches(e.Expression, el)
	}
	return false
}

func filterAttr(el map[string]any, ap filter.AttributePath) (any, bool) {
	_, v, ok := lookupKey(el, ap.AttributeName)
	if !ok || ap.SubAttribute == nil {
		return v, ok
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, false
	}
	_, v, ok = lookupKey(m, *ap.SubAttribute)
	return v, ok
}

func compare(op filter.CompareOperator, v any, present bool, want any) bool {
	if op == filter.PR {
		return present && !isEmpty(v)
	}
	if !present {
		return op == filter.NE
	}
	if s, ok := v.(string); ok {
		w, ok := want.(string)
		if !ok {
			return op == filter.NE
		}
		ls, lw := strings.ToLower(s), strings.ToLower(w)
		switch op {
		case filter.EQ:
			return ls == lw
		case filter.NE:
			return ls != lw
		case filter.CO:
			return strings.Contains(ls, lw)
		case filter.SW:
			return strings.HasPrefix(ls, lw)
		case filter.EW:
			return strings.HasSuffix(ls, lw)
		case filter.GT:
			return ls > lw
		case filter.LT:
			return ls < lw
		case filter.GE:
			return ls >= lw
		case filter.LE:
			return ls <= lw
		}
		return false
	}
	if f, ok := toFloat(v); ok {
		w, ok := toFloat(want)
		if !ok {
			return op == filter.NE
		}
		switch op {
		case filter.EQ:
			return f == w
		case filter.NE:
			return f != w
		case filter.GT:
			return f > w
		case filter.LT:
			return f < w
		case filter.GE:
			return f >= w
		case filter.LE:
			return f <= w
		}
		return false
	}
	if b, ok := v.(bool); ok {
		w, ok := want.(bool)
		switch op {
		case filter.EQ:
			return ok && b == w
		case filter.NE:
			return !ok || b != w
		}
		return false
	}
	if v == nil {
		switch op {
		case filter.EQ:
			return want == nil
		case filter.NE:
			return want != nil
		}
	}
	return op == filter.NE
}

// toFloat converts Go numeric kinds (and json.Number) to float64.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	}
	return 0, false
}

// normalizeNumber makes a filter's compare value JSON-shaped (numbers as float64).
func normalizeNumber(v any) any {
	if f, ok := toFloat(v); ok {
		return f
	}
	return v
}

// isEmpty reports a JSON value that counts as empty: nil, "", an empty list or object.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	if _, ok := toFloat(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}
