package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	scim "github.com/scim2/filter-parser/v2"

	"github.com/idstream/idstream/domain"
)

// SCIM filters (RFC 7644 §3.4.2.2), parsed by github.com/scim2/filter-parser and compiled once
// into a predicate. Strings compare case-insensitively (caseExact false); ne is the negation of
// eq (so a missing attribute is ne anything); a multi-valued attribute matches when any of its
// values does; "eq null" means not present. Every error is a *domain.FieldError on "filter".

type valueKind uint8

const (
	kindString valueKind = iota
	kindBool
	kindJSON
)

// attr is a filter attribute resolved for targets of type T. Exactly one accessor is set.
type attr[T any] struct {
	name    string
	kind    valueKind
	str     func(T) string          // "" is absent
	boolean func(T) bool            // always present
	raw     func(T) json.RawMessage // custom attribute: nil is absent
}

type predicate[T any] func(T) bool

type resolver[T any] func(path string) (attr[T], error)

func filterErr(format string, args ...any) error {
	return domain.Invalidf("filter", format, args...)
}

// parseFilter parses a SCIM filter; the parser's panics, if any, become errors.
func parseFilter(filter string) (expr scim.Expression, err error) {
	defer func() {
		if r := recover(); r != nil {
			expr, err = nil, filterErr("not a valid SCIM filter")
		}
	}()
	expr, err = scim.ParseFilter([]byte(filter))
	if err != nil {
		return nil, domain.FilterSyntaxError("filter", filter, err.Error())
	}
	if expr == nil {
		return nil, filterErr("not a valid SCIM filter")
	}
	return expr, nil
}

func attrPathName(p scim.AttributePath) string {
	name := p.AttributeName
	if p.SubAttribute != nil {
		name += "." + *p.SubAttribute
	}
	return name
}

// compileExpr compiles a parsed filter. depth bounds recursion on hostile input.
func compileExpr[T any](e scim.Expression, resolve resolver[T], depth int) (predicate[T], error) {
	if depth > 64 {
		return nil, filterErr("nested too deeply")
	}
	switch x := e.(type) {
	case *scim.LogicalExpression:
		if x.Left == nil || x.Right == nil {
			return nil, filterErr("incomplete %s expression", x.Operator)
		}
		l, err := compileExpr(x.Left, resolve, depth+1)
		if err != nil {
			return nil, err
		}
		r, err := compileExpr(x.Right, resolve, depth+1)
		if err != nil {
			return nil, err
		}
		switch x.Operator {
		case scim.AND:
			return func(t T) bool { return l(t) && r(t) }, nil
		case scim.OR:
			return func(t T) bool { return l(t) || r(t) }, nil
		}
		return nil, filterErr("unknown logical operator %q", x.Operator)
	case *scim.NotExpression:
		if x.Expression == nil {
			return nil, filterErr("empty not()")
		}
		p, err := compileExpr(x.Expression, resolve, depth+1)
		if err != nil {
			return nil, err
		}
		return func(t T) bool { return !p(t) }, nil
	case *scim.AttributeExpression:
		return compileAttrExpr(x, resolve)
	case *scim.ValuePath:
		return nil, filterErr("value paths such as %s[...] are not supported", attrPathName(x.AttributePath))
	}
	return nil, filterErr("unsupported expression")
}

func compileAttrExpr[T any](x *scim.AttributeExpression, resolve resolver[T]) (predicate[T], error) {
	path := attrPathName(x.AttributePath)
	if x.AttributePath.URIPrefix != nil {
		path = *x.AttributePath.URIPrefix + ":" + path
	}
	a, err := resolve(path)
	if err != nil {
		return nil, err
	}
	op := x.Operator
	present := presentFunc(a)
	switch {
	case op == scim.PR:
		return present, nil
	case x.CompareValue == nil && (op == scim.EQ || op == scim.NE):
		if op == scim.EQ {
			return func(t T) bool { return !present(t) }, nil
		}
		return present, nil
	case x.CompareValue == nil:
		return nil, filterErr("%s %s null: only eq and ne compare with null", a.name, op)
	}
	if op == scim.NE {
		eq, err := compileCompare(a, scim.EQ, x.CompareValue)
		if err != nil {
			return nil, err
		}
		return func(t T) bool { return !eq(t) }, nil
	}
	return compileCompare(a, op, x.CompareValue)
}

func presentFunc[T any](a attr[T]) predicate[T] {
	switch {
	case a.boolean != nil:
		return func(T) bool { return true }
	case a.str != nil:
		return func(t T) bool { return a.str(t) != "" }
	}
	return func(t T) bool {
		v := bytes.TrimSpace(a.raw(t))
		return len(v) > 0 && string(v) != "null" && string(v) != `""` && string(v) != "[]"
	}
}

func compileCompare[T any](a attr[T], op scim.CompareOperator, value any) (predicate[T], error) {
	switch a.kind {
	case kindBool:
		b, ok := value.(bool)
		if !ok {
			return nil, filterErr("%s is a boolean: compare it with true or false", a.name)
		}
		if op != scim.EQ {
			return nil, filterErr("%s is a boolean: only eq, ne and pr apply", a.name)
		}
		if a.boolean != nil {
			return func(t T) bool { return a.boolean(t) == b }, nil
		}
		return func(t T) bool {
			return anyRawValue(a.raw(t), func(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == strconv.FormatBool(b) })
		}, nil
	case kindJSON:
		if op != scim.EQ {
			return nil, filterErr("%s is a JSON attribute: only eq, ne and pr apply", a.name)
		}
		want := []string{}
		if s, ok := value.(string); ok {
			want = append(want, s)
		}
		if enc, err := json.Marshal(value); err == nil {
			want = append(want, string(enc))
		}
		return func(t T) bool {
			raw := a.raw(t)
			if len(raw) == 0 {
				return false
			}
			text := compactJSON(raw)
			for _, w := range want {
				if text == w {
					return true
				}
			}
			return false
		}, nil
	}
	s, ok := value.(string)
	if !ok {
		return nil, filterErr("%s is a string: compare it with a quoted string", a.name)
	}
	match, err := stringMatcher(op, s)
	if err != nil {
		return nil, filterErr("%s: %v", a.name, err)
	}
	if a.str != nil {
		return func(t T) bool {
			v := a.str(t)
			return v != "" && match(v)
		}, nil
	}
	return func(t T) bool {
		return anyRawValue(a.raw(t), func(v json.RawMessage) bool {
			str, ok := rawString(v)
			return ok && match(str)
		})
	}, nil
}

// stringMatcher returns the case-insensitive comparison op with the given operand.
func stringMatcher(op scim.CompareOperator, want string) (func(string) bool, error) {
	lw := strings.ToLower(want)
	switch op {
	case scim.EQ:
		return func(v string) bool { return strings.EqualFold(v, want) }, nil
	case scim.CO:
		return func(v string) bool { return strings.Contains(strings.ToLower(v), lw) }, nil
	case scim.SW:
		return func(v string) bool { return strings.HasPrefix(strings.ToLower(v), lw) }, nil
	case scim.EW:
		return func(v string) bool { return strings.HasSuffix(strings.ToLower(v), lw) }, nil
	case scim.GT:
		return func(v string) bool { return strings.ToLower(v) > lw }, nil
	case scim.GE:
		return func(v string) bool { return strings.ToLower(v) >= lw }, nil
	case scim.LT:
		return func(v string) bool { return strings.ToLower(v) < lw }, nil
	case scim.LE:
		return func(v string) bool { return strings.ToLower(v) <= lw }, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

// anyRawValue calls fn on each value of a custom attribute (the elements of an array, else the
// value itself) and reports whether fn held for one.
func anyRawValue(raw json.RawMessage, fn func(json.RawMessage) bool) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	if raw[0] != '[' {
		return fn(raw)
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return false
	}
	for _, e := range elems {
		if fn(e) {
			return true
		}
	}
	return false
}

// rawString returns the text of a JSON string (or the literal text of a number or boolean).
func rawString(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", false
	}
	if v[0] != '"' {
		return string(v), v[0] != '{' && v[0] != '['
	}
	if len(v) >= 2 && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// userFilter is a compiled users filter. index/value name a top-level equality on an indexed
// attribute (username, email, externalId, populationId) the query answers from an index; rest
// is the conjunction of the other top-level terms then (nil: none).
type userFilter struct {
	match predicate[*User] // nil: every user
	index string
	value string
	rest  predicate[*User]
}

// indexed lists the attributes answered from indexes, best first.
var indexedAttrs = []string{"username", "email", "externalId", "populationId"}

// compileUserFilter compiles filter against the environment's schema.
func compileUserFilter(filter string, schema []domain.AttributeDef) (userFilter, error) {
	if strings.TrimSpace(filter) == "" {
		return userFilter{}, nil
	}
	expr, err := parseFilter(filter)
	if err != nil {
		return userFilter{}, err
	}
	resolve := userResolver(schema)
	match, err := compileExpr(expr, resolve, 0)
	if err != nil {
		return userFilter{}, err
	}
	f := userFilter{match: match}
	var terms []scim.Expression
	var flatten func(scim.Expression)
	flatten = func(e scim.Expression) {
		if l, ok := e.(*scim.LogicalExpression); ok && l.Operator == scim.AND && len(terms) < 64 {
			flatten(l.Left)
			flatten(l.Right)
			return
		}
		terms = append(terms, e)
	}
	flatten(expr)
	best, bestRank := -1, len(indexedAttrs)
	for i, t := range terms {
		x, ok := t.(*scim.AttributeExpression)
		if !ok || x.Operator != scim.EQ {
			continue
		}
		v, ok := x.CompareValue.(string)
		if !ok {
			continue
		}
		path := attrPathName(x.AttributePath)
		c, ok := domain.CanonicalUserAttribute(path)
		if !ok {
			continue
		}
		for rank, name := range indexedAttrs {
			if c == name && rank < bestRank {
				best, bestRank, f.index, f.value = i, rank, c, v
			}
		}
	}
	if best < 0 {
		return f, nil
	}
	var rest []predicate[*User]
	for i, t := range terms {
		if i == best {
			continue
		}
		p, err := compileExpr(t, resolve, 0)
		if err != nil {
			return userFilter{}, err
		}
		rest = append(rest, p)
	}
	if len(rest) > 0 {
		f.rest = func(u *User) bool {
			for _, p := range rest {
				if !p(u) {
					return false
				}
			}
			return true
		}
	}
	return f, nil
}

// userResolver resolves core, system and SCIM-alias attributes, then custom attributes of schema.
func userResolver(schema []domain.AttributeDef) resolver[*User] {
	return func(path string) (attr[*User], error) {
		if c, ok := domain.CanonicalUserAttribute(path); ok {
			switch c {
			case "id":
				return attr[*User]{name: c, str: func(u *User) string { return u.ID }}, nil
			case "populationId":
				return attr[*User]{name: c, str: func(u *User) string { return u.PopulationID }}, nil
			case "enabled":
				return attr[*User]{name: c, kind: kindBool, boolean: func(u *User) bool { return u.Enabled }}, nil
			case "locked":
				return attr[*User]{name: c, kind: kindBool, boolean: func(u *User) bool { return u.Locked }}, nil
			}
			return attr[*User]{name: c, str: func(u *User) string { return u.Profile.CoreValue(c) }}, nil
		}
		name := path
		if i := strings.LastIndex(name, ":"); i >= 0 {
			name = name[i+1:]
		}
		for _, def := range schema {
			if !strings.EqualFold(def.Name, name) {
				continue
			}
			a := attr[*User]{name: def.Name, raw: func(u *User) json.RawMessage { v, _ := u.CustomValue(def.Name); return v }}
			switch def.Type {
			case domain.AttributeBoolean:
				a.kind = kindBool
			case domain.AttributeJSON:
				a.kind = kindJSON
			}
			return a, nil
		}
		return attr[*User]{}, filterErr("unknown attribute %q", path)
	}
}

// compileGroupFilter compiles a groups filter (id, name or displayName, description, kind).
func compileGroupFilter(filter string) (predicate[*Group], error) {
	if strings.TrimSpace(filter) == "" {
		return nil, nil
	}
	expr, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	return compileExpr(expr, func(path string) (attr[*Group], error) {
		if i := strings.LastIndex(path, ":"); i >= 0 {
			path = path[i+1:]
		}
		switch strings.ToLower(path) {
		case "id":
			return attr[*Group]{name: "id", str: func(g *Group) string { return g.ID }}, nil
		case "name", "displayname":
			return attr[*Group]{name: "name", str: func(g *Group) string { return g.Name }}, nil
		case "description":
			return attr[*Group]{name: "description", str: func(g *Group) string { return g.Description }}, nil
		case "kind":
			return attr[*Group]{name: "kind", str: func(g *Group) string { return string(g.Kind) }}, nil
		}
		return attr[*Group]{}, filterErr("unknown attribute %q", path)
	}, 0)
}

// CompileUserMatcher compiles a SCIM filter over users (the attributes users(filter) and
// dynamic groups address: core, system and SCIM-alias attributes, and the custom attributes of
// schema) into a predicate. An empty filter matches every user. A bad filter is a
// *domain.FieldError on "filter" (wrapping domain.ErrInvalid). The predicate is safe for
// concurrent use.
func CompileUserMatcher(filter string, schema []domain.AttributeDef) (func(*User) bool, error) {
	f, err := compileUserFilter(filter, schema)
	if err != nil {
		return nil, err
	}
	if f.match == nil {
		return func(*User) bool { return true }, nil
	}
	return func(u *User) bool { return f.match(u) }, nil
}
