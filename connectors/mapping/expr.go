package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Expression limits: expressions come from outside input (mapping configuration).
const (
	// MaxExpressionLen bounds an expression's text in bytes.
	MaxExpressionLen = 4096
	// MaxExpressionNodes bounds an expression's syntax tree (expr.MaxNodes).
	MaxExpressionNodes = 500
	// maxPatternLen bounds a regular expression's text.
	maxPatternLen = 1024
	// MaxResultLen bounds the text a library function returns, so that nested amplifying
	// calls (replace(replace(s, "a", s), …)) cannot exhaust memory.
	MaxResultLen = 64 << 10
)

// safeBuiltins returns the expr-lang builtins left enabled: pure, deterministic and bounded
// by their input. Others are disabled (now, repeat, …); the mapping library replaces the
// string builtins with nil-safe versions.
func safeBuiltins() []string {
	return []string{
		"all", "none", "any", "one", "filter", "map", "find", "findIndex", "count", "len", "type",
		"abs", "ceil", "floor", "round", "int", "float", "trimPrefix", "trimSuffix",
		"hasPrefix", "hasSuffix", "indexOf", "lastIndexOf", "first", "last", "get", "keys",
		"values", "reverse", "uniq", "sort", "flatten", "max", "min",
	}
}

// Expression is a compiled expr-lang expression over a source identity. It is immutable and
// safe for concurrent use.
//
// The environment exposes each top-level source attribute as a variable under its own name
// (`username`, `email`, `name.given`, `groups`), the whole source as `source`, and
// `attr("custom name")`, which reads any attribute by dotted path case-insensitively. Member
// access is nil-safe: `name.given` is nil when name is absent. Variables are the source's
// keys as spelled (use attr for case-insensitive reads); a source key named `source` or
// `attr` is reachable through source["…"] only. A function of the library shadows nothing:
// `title` is the source's title, `title(x)` the function. `let` is not supported.
//
// Library (every function accepts nil / absent arguments; string functions return nil for a
// nil input so that an absent value stays absent and the mapping's default applies):
//
//	lower(s), upper(s), trim(s)   case and surrounding space
//	title(s)                      each word's first letter upper case, the rest lower case
//	concat(a, b, …)               the arguments as text, joined; nil ones skipped
//	substring(s, start[, length]) by characters (runes); start and length clamped to s
//	replace(s, old, new)          every occurrence
//	regexReplace(s, pattern, r)   Go RE2 syntax, r may use $1; literal patterns compile once
//	regexMatch(s, pattern)        whether s matches; false for nil
//	split(s, sep)                 a list; nil for nil, empty for ""
//	join(list, sep)               the elements as text; nil elements skipped
//	dateFormat(v, out[, in])      v is text (RFC 3339 by default, or in) or unix seconds;
//	                              layouts are Go reference layouts or one of the names
//	                              RFC3339, RFC3339Nano, RFC1123, date (2006-01-02),
//	                              time (15:04:05), datetime (2006-01-02 15:04:05), unix;
//	                              the result is in UTC
//	coalesce(a, b, …)             the first non-empty argument (not nil, "" or empty list)
//	switch(v, c1, r1, …[, d])     the r of the first c equal to v (JSON equality), else d
//	default(v, d)                 v, or d when v is empty
//	toString(v)                   text: numbers without exponent, lists and objects as JSON
//	attr(path)                    a source attribute by dotted path, case-insensitively
type Expression struct {
	code string
	prog *vm.Program
}

// CompileExpression compiles code. It fails with a clear error when code is empty, too long
// or too large, does not parse or type-check, or calls a regex function with an invalid
// literal pattern.
func CompileExpression(code string) (*Expression, error) {
	if strings.TrimSpace(code) == "" {
		return nil, errors.New("expression is empty")
	}
	if len(code) > MaxExpressionLen {
		return nil, fmt.Errorf("expression is longer than %d bytes", MaxExpressionLen)
	}
	lib := &library{regex: map[string]*regexp.Regexp{}}
	pre := &prepass{lib: lib}
	opts := []expr.Option{
		expr.Env(map[string]any{"source": map[string]any{}, "attr": func(string) any { return nil }}),
		expr.AllowUndefinedVariables(),
		expr.MaxNodes(MaxExpressionNodes),
		expr.DisableAllBuiltins(),
	}
	for _, name := range safeBuiltins() {
		opts = append(opts, expr.EnableBuiltin(name))
	}
	opts = append(opts, expr.Patch(pre))
	opts = append(opts, lib.functions()...)
	prog, err := compileSafely(code, opts)
	if err != nil {
		return nil, fmt.Errorf("expression does not compile: %v", err)
	}
	if pre.err != nil {
		return nil, pre.err
	}
	return &Expression{code: code, prog: prog}, nil
}

// compileSafely turns a panic of the expr compiler on hostile input into an error.
func compileSafely(code string, opts []expr.Option) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compiler failure: %v", r)
		}
	}()
	return expr.Compile(code, opts...)
}

// String returns the expression's source text.
func (e *Expression) String() string { return e.code }

// Evaluate evaluates the expression against a source identity (see Expression for the
// environment). The result is JSON-shaped (see Normalize).
func (e *Expression) Evaluate(src map[string]any) (any, error) {
	return e.run(newEnv(src))
}

func (e *Expression) run(env map[string]any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("expression failed: %v", r)
		}
	}()
	v, err := expr.Run(e.prog, env)
	if err != nil {
		return nil, fmt.Errorf("expression failed: %v", err)
	}
	if err := checkResult(v); err != nil {
		return nil, fmt.Errorf("expression result: %w", err)
	}
	return Normalize(v), nil
}

// checkResult rejects results that are not JSON values: functions (`attr` without a call),
// infinite or NaN numbers (`1/0`), and the like.
func checkResult(v any) error {
	switch x := v.(type) {
	case nil, string, bool, json.Number:
		return nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Errorf("%v is not a JSON number", x)
		}
		return nil
	case []any:
		for _, e := range x {
			if err := checkResult(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for _, e := range x {
			if err := checkResult(e); err != nil {
				return err
			}
		}
		return nil
	}
	if f, ok := toFloat(v); ok {
		return checkResult(f)
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("a %T is not a JSON value", v)
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Errorf("not a JSON value: %v", err)
	}
	return nil
}

// newEnv builds the evaluation environment of a source identity.
func newEnv(src map[string]any) map[string]any {
	env := make(map[string]any, len(src)+2)
	for k, v := range src {
		env[k] = v
	}
	if src == nil {
		src = map[string]any{}
	}
	env["source"] = src
	env["attr"] = func(path string) any {
		v, _ := SourceValue(src, path)
		return v
	}
	return env
}

// SourceValue reads a source attribute by dotted path (`name.given`), comparing names
// case-insensitively. A whole key that contains dots or spaces matches first
// (`attr("custom.name")`). ok is false when absent.
func SourceValue(src map[string]any, path string) (any, bool) {
	if _, v, ok := lookupKey(src, path); ok {
		return v, true
	}
	cur := src
	parts := strings.Split(path, ".")
	for i, part := range parts {
		_, v, ok := lookupKey(cur, part)
		if !ok {
			return nil, false
		}
		if i == len(parts)-1 {
			return v, true
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		cur = m
	}
	return nil, false
}

// isLibraryName reports whether an expression may call name by name (builtins parse as their
// own nodes).
func isLibraryName(name string) bool {
	switch name {
	case "attr", "lower", "upper", "trim", "title", "toString", "concat", "substring", "replace",
		"regexReplace", "regexMatch", "split", "join", "dateFormat", "coalesce", "switch", "default":
		return true
	}
	return false
}

// prepass makes member access nil-safe and compiles the literal patterns of regex calls.
type prepass struct {
	lib *library
	err error
}

func (p *prepass) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		// let bindings would let a few nodes double a string many times over.
		if p.err == nil {
			p.err = fmt.Errorf("expression: let %s: variable declarations are not supported", n.Name)
		}
	case *ast.MemberNode:
		if n.Method {
			return
		}
		n.Optional = true
		ast.Patch(node, &ast.ChainNode{Node: n})
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if !isLibraryName(id.Value) {
			if p.err == nil {
				p.err = fmt.Errorf("expression: unknown function %q", id.Value)
			}
			return
		}
		if (id.Value != "regexReplace" && id.Value != "regexMatch") || len(n.Arguments) < 2 {
			return
		}
		lit, ok := n.Arguments[1].(*ast.StringNode)
		if !ok {
			return
		}
		re, err := compilePattern(lit.Value)
		if err != nil {
			if p.err == nil {
				p.err = fmt.Errorf("expression: %s: %w", id.Value, err)
			}
			return
		}
		p.lib.regex[lit.Value] = re
	}
}

func compilePattern(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > maxPatternLen {
		return nil, fmt.Errorf("pattern longer than %d bytes", maxPatternLen)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid pattern %q: %v", pattern, err)
	}
	return re, nil
}

// library is one expression's function library; regex holds its literal patterns, compiled
// at Compile time and read-only afterwards.
type library struct {
	regex map[string]*regexp.Regexp
}

func (l *library) pattern(v any) (*regexp.Regexp, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("pattern must be text, not %s", jsonKind(Normalize(v)))
	}
	if re, ok := l.regex[s]; ok {
		return re, nil
	}
	return compilePattern(s)
}

func (l *library) functions() []expr.Option {
	str1 := func(f func(string) string) func(...any) (any, error) {
		return func(p ...any) (any, error) {
			if p[0] == nil {
				return nil, nil
			}
			return text(f(ToString(p[0])))
		}
	}
	return []expr.Option{
		expr.Function("lower", str1(strings.ToLower), new(func(any) any)),
		expr.Function("upper", str1(strings.ToUpper), new(func(any) any)),
		expr.Function("trim", str1(strings.TrimSpace), new(func(any) any)),
		expr.Function("title", str1(titleCase), new(func(any) any)),
		expr.Function("toString", func(p ...any) (any, error) { return text(ToString(p[0])) }, new(func(any) string)),
		expr.Function("concat", func(p ...any) (any, error) {
			var b strings.Builder
			for _, v := range p {
				b.WriteString(ToString(v))
				if b.Len() > MaxResultLen {
					return nil, fmt.Errorf("concat: result longer than %d bytes", MaxResultLen)
				}
			}
			return b.String(), nil
		}, new(func(...any) string)),
		expr.Function("substring", substring, new(func(any, any) any), new(func(any, any, any) any)),
		expr.Function("replace", func(p ...any) (any, error) {
			if p[0] == nil {
				return nil, nil
			}
			s, old, repl := ToString(p[0]), ToString(p[1]), ToString(p[2])
			if n := strings.Count(s, old); n > 0 && len(s)+n*(len(repl)-len(old)) > MaxResultLen {
				return nil, fmt.Errorf("replace: result longer than %d bytes", MaxResultLen)
			}
			return strings.ReplaceAll(s, old, repl), nil
		}, new(func(any, any, any) any)),
		expr.Function("regexReplace", func(p ...any) (any, error) {
			if p[0] == nil {
				return nil, nil
			}
			re, err := l.pattern(p[1])
			if err != nil {
				return nil, fmt.Errorf("regexReplace: %w", err)
			}
			return regexReplace(re, ToString(p[0]), ToString(p[2]))
		}, new(func(any, any, any) any)),
		expr.Function("regexMatch", func(p ...any) (any, error) {
			re, err := l.pattern(p[1])
			if err != nil {
				return nil, fmt.Errorf("regexMatch: %w", err)
			}
			if p[0] == nil {
				return false, nil
			}
			return re.MatchString(ToString(p[0])), nil
		}, new(func(any, any) bool)),
		expr.Function("split", func(p ...any) (any, error) {
			if p[0] == nil {
				return nil, nil
			}
			s := ToString(p[0])
			if s == "" {
				return []any{}, nil
			}
			parts := strings.Split(s, ToString(p[1]))
			out := make([]any, len(parts))
			for i, part := range parts {
				out[i] = part
			}
			return out, nil
		}, new(func(any, any) any)),
		expr.Function("join", join, new(func(any, any) any)),
		expr.Function("dateFormat", dateFormat, new(func(any, any) any), new(func(any, any, any) any)),
		expr.Function("coalesce", func(p ...any) (any, error) {
			for _, v := range p {
				if !isEmpty(Normalize(v)) {
					return v, nil
				}
			}
			return nil, nil
		}, new(func(...any) any)),
		expr.Function("switch", switchFn, new(func(any, ...any) any)),
		expr.Function("default", func(p ...any) (any, error) {
			if isEmpty(Normalize(p[0])) {
				return p[1], nil
			}
			return p[0], nil
		}, new(func(any, any) any)),
	}
}

// ToString renders a JSON value as text: nil as "", numbers without exponent or trailing
// zeros (1 not 1.0), booleans as true/false, lists and objects as JSON.
func ToString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	}
	if f, ok := toFloat(v); ok {
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	raw, err := json.Marshal(Normalize(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

// regexReplace is re.ReplaceAllString(s, repl) whose result is bounded by MaxResultLen,
// checked before each expansion (a `$0` repeated in repl could otherwise multiply s).
func regexReplace(re *regexp.Regexp, s, repl string) (any, error) {
	dollars := strings.Count(repl, "$")
	var out []byte
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		out = append(out, s[last:m[0]]...)
		longest := 0
		for k := 0; k+1 < len(m); k += 2 {
			if m[k] >= 0 {
				longest = max(longest, m[k+1]-m[k])
			}
		}
		if len(out)+len(repl)+dollars*longest > MaxResultLen {
			return nil, fmt.Errorf("regexReplace: result longer than %d bytes", MaxResultLen)
		}
		out = re.ExpandString(out, repl, s, m)
		last = m[1]
	}
	out = append(out, s[last:]...)
	return text(string(out))
}

// text returns s as a function result, or an error when it is longer than MaxResultLen.
func text(s string) (any, error) {
	if len(s) > MaxResultLen {
		return nil, fmt.Errorf("result longer than %d bytes", MaxResultLen)
	}
	return s, nil
}

func titleCase(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'':
			if start {
				b.WriteRune(unicode.ToUpper(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			start = false
		default:
			b.WriteRune(r)
			start = true
		}
	}
	return b.String()
}

// toInt converts a numeric argument to an int; name names it in errors.
func toInt(v any, name string) (int, error) {
	f, ok := toFloat(Normalize(v))
	if !ok || math.IsNaN(f) || f != math.Trunc(f) {
		return 0, fmt.Errorf("%s must be a whole number, not %s", name, ToString(v))
	}
	if f > math.MaxInt32 {
		return math.MaxInt32, nil
	}
	if f < math.MinInt32 {
		return math.MinInt32, nil
	}
	return int(f), nil
}

func substring(p ...any) (any, error) {
	if p[0] == nil {
		return nil, nil
	}
	s := ToString(p[0])
	start, err := toInt(p[1], "substring: start")
	if err != nil {
		return nil, err
	}
	n := utf8.RuneCountInString(s)
	length := n
	if len(p) > 2 {
		if length, err = toInt(p[2], "substring: length"); err != nil {
			return nil, err
		}
		if length < 0 {
			return nil, fmt.Errorf("substring: length must not be negative, got %d", length)
		}
	}
	start = max(0, min(start, n))
	end := start + min(length, n-start)
	runes := []rune(s)
	return string(runes[start:end]), nil
}

func join(p ...any) (any, error) {
	if p[0] == nil {
		return nil, nil
	}
	list, ok := Normalize(p[0]).([]any)
	if !ok {
		return ToString(p[0]), nil
	}
	sep := ToString(p[1])
	parts := make([]string, 0, len(list))
	for _, v := range list {
		if v != nil {
			parts = append(parts, ToString(v))
		}
	}
	return text(strings.Join(parts, sep))
}

// namedLayout returns the layout of a name dateFormat accepts besides Go reference layouts.
func namedLayout(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "rfc3339":
		return time.RFC3339, true
	case "rfc3339nano":
		return time.RFC3339Nano, true
	case "rfc1123":
		return time.RFC1123, true
	case "date":
		return "2006-01-02", true
	case "time":
		return "15:04:05", true
	case "datetime":
		return "2006-01-02 15:04:05", true
	}
	return "", false
}

func layout(v any, name string) (string, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("dateFormat: %s must be a layout name or a Go reference layout", name)
	}
	if l, ok := namedLayout(s); ok {
		return l, nil
	}
	return s, nil
}

func dateFormat(p ...any) (any, error) {
	v := Normalize(p[0])
	if isEmpty(v) {
		return nil, nil
	}
	out, err := layout(p[1], "output layout")
	if err != nil {
		return nil, err
	}
	in := ""
	if len(p) > 2 {
		if in, err = layout(p[2], "input layout"); err != nil {
			return nil, err
		}
	}
	var t time.Time
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.Abs(x) > 1e13 {
			return nil, fmt.Errorf("dateFormat: %v is not a unix time in seconds", x)
		}
		sec, frac := math.Modf(x)
		t = time.Unix(int64(sec), int64(frac*1e9))
	case string:
		switch {
		case strings.EqualFold(in, "unix"):
			f, err := strconv.ParseFloat(x, 64)
			if err != nil || math.IsNaN(f) || math.Abs(f) > 1e13 {
				return nil, fmt.Errorf("dateFormat: %q is not a unix time in seconds", x)
			}
			sec, frac := math.Modf(f)
			t = time.Unix(int64(sec), int64(frac*1e9))
		case in != "":
			if t, err = time.Parse(in, x); err != nil {
				return nil, fmt.Errorf("dateFormat: %q does not match the input layout %q", x, in)
			}
		default:
			if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
				if t, err = time.Parse("2006-01-02", x); err != nil {
					return nil, fmt.Errorf("dateFormat: %q is not an RFC 3339 time (give the input layout)", x)
				}
			}
		}
	default:
		return nil, fmt.Errorf("dateFormat: the value must be a time text or unix seconds, not %s", jsonKind(v))
	}
	t = t.UTC()
	if strings.EqualFold(out, "unix") {
		return float64(t.Unix()), nil
	}
	return t.Format(out), nil
}

func switchFn(p ...any) (any, error) {
	v := p[0]
	rest := p[1:]
	for len(rest) >= 2 {
		if Equal(v, rest[0]) {
			return rest[1], nil
		}
		rest = rest[2:]
	}
	if len(rest) == 1 {
		return rest[0], nil
	}
	return nil, nil
}
