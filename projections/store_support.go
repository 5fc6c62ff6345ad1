package projections

import (
	"sort"

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
