package projections

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"unicode"

	scim "github.com/scim2/filter-parser/v2"

	"github.com/idstream/idstream/domain"
)

// What a read-model store persisting the Directory (projections/pgstore) needs beyond the
// queries: the compiled user filter, so that it answers with exactly the Directory's
// semantics; the user of a user event; and the token hashes.

// UserFilter is a compiled users filter (see Directory.Users).
type UserFilter struct {
	// Match reports whether a user matches; nil matches every user.
	Match func(*User) bool
	// Index and Value, when Index is set, name a top-level equality on username, email,
	// externalId or populationId (case-insensitive) that every matching user satisfies: a
	// store may narrow its candidates by it, then apply Match.
	Index, Value string
	// Needles is a necessary condition on UserSearchText in conjunctive form: a user the
	// filter matches has, for every clause, one of its needles in its search text. A store
	// may narrow its candidates by it (nil: no narrowing), then apply Match.
	Needles [][]string
}

// CompileUserFilter compiles a SCIM users filter against an environment's schema, with the
// Directory's errors (a *domain.FieldError on "filter").
func CompileUserFilter(filter string, schema []domain.AttributeDef) (UserFilter, error) {
	f, err := compileUserFilter(filter, schema)
	if err != nil {
		return UserFilter{}, err
	}
	out := UserFilter{Index: f.index, Value: f.value}
	if f.match != nil {
		out.Match = f.match
		if expr, err := parseFilter(filter); err == nil {
			out.Needles = filterNeedles(expr, userResolver(schema), 0)
		}
	}
	return out, nil
}

// UserEventIDs returns the environment and user of a user event's payload (including the
// Runner's own decoding of user.created); ok is false for other payloads.
func UserEventIDs(payload any) (env, user string, ok bool) { return userEventIDs(payload) }

// TokenHash is the hex SHA-256 (lower case) of an API client's token.
type TokenHash struct {
	Hash, ClientID, TokenID string
}

// TokenHashes returns the hashes of the tokens of the given client ("" for every client),
// sorted by hash.
func (d *Directory) TokenHashes(clientID string) []TokenHash {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []TokenHash
	for h, ref := range d.tokens {
		if clientID == "" || ref.client == clientID {
			out = append(out, TokenHash{Hash: h, ClientID: ref.client, TokenID: ref.token})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hash < out[j].Hash })
	return out
}

// ParseCursor decodes a Relay cursor of Users or Groups into the ID it names ("" for ""), with
// the Directory's error for a bad one.
func ParseCursor(after string) (string, error) { return decodeCursor(after) }

// Cursor encodes id as a Relay cursor of Users or Groups.
func Cursor(id string) string { return encodeCursor(id) }

// PageSize is the page size a query with First first answers (0: 50; above 1000: 1000).
func PageSize(first int) int { return pageSize(first) }

// CompileGroupFilter compiles a SCIM groups filter (see Directory.Groups); nil matches every group.
func CompileGroupFilter(filter string) (func(*Group) bool, error) {
	p, err := compileGroupFilter(filter)
	if err != nil || p == nil {
		return nil, err
	}
	return p, nil
}

// UserSearchText returns a text holding every string value a users filter can compare of u
// (its ID, population, every string of its profile, its custom values' strings), each both
// lower-cased and case-folded, separated by U+001F, NUL removed. A store keeps it beside the
// user to narrow filtered queries by UserFilter.Needles.
func UserSearchText(u *User) string {
	var b strings.Builder
	add := func(v string) {
		if v == "" {
			return
		}
		v = strings.ReplaceAll(v, "\x00", "")
		b.WriteString(strings.ToLower(v))
		b.WriteByte(0x1f)
		b.WriteString(foldString(v))
		b.WriteByte(0x1f)
	}
	add(u.ID)
	add(u.PopulationID)
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			add(v.String())
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		}
	}
	walk(reflect.ValueOf(u.Profile))
	for _, c := range u.Custom {
		anyRawValue(c.Value, func(v json.RawMessage) bool {
			if s, ok := rawString(v); ok {
				add(s)
			}
			return false
		})
	}
	return b.String()
}

// foldString maps every rune to the smallest rune of its simple case-folding orbit, so that
// strings.EqualFold(a, b) holds exactly when foldString(a) == foldString(b).
func foldString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		b.WriteRune(m)
	}
	return b.String()
}

// filterNeedles derives from a parsed users filter a necessary condition on UserSearchText, in
// conjunctive form: every clause holds at least one needle contained in the search text of any
// user the filter matches. It is empty when nothing narrows (not, ne, gt, pr, booleans...).
func filterNeedles(e scim.Expression, resolve resolver[*User], depth int) [][]string {
	if depth > 64 {
		return nil
	}
	switch x := e.(type) {
	case *scim.LogicalExpression:
		l, r := filterNeedles(x.Left, resolve, depth+1), filterNeedles(x.Right, resolve, depth+1)
		if x.Operator == scim.AND {
			return append(l, r...)
		}
		if x.Operator == scim.OR && len(l) > 0 && len(r) > 0 {
			return [][]string{append(append([]string(nil), l[0]...), r[0]...)}
		}
	case *scim.AttributeExpression:
		s, ok := x.CompareValue.(string)
		if !ok {
			return nil
		}
		path := attrPathName(x.AttributePath)
		if x.AttributePath.URIPrefix != nil {
			path = *x.AttributePath.URIPrefix + ":" + path
		}
		a, err := resolve(path)
		if err != nil || a.kind != kindString {
			return nil
		}
		s = strings.ReplaceAll(s, "\x00", "")
		switch x.Operator {
		case scim.EQ:
			return [][]string{{foldString(s)}}
		case scim.CO, scim.SW, scim.EW:
			return [][]string{{strings.ToLower(s)}}
		}
	}
	return nil
}
