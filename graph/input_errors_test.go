package graph_test

import "testing"

// A value gqlgen cannot coerce into an argument's type (a custom scalar such as DateTime or JSON)
// is bad input: INVALID naming the input field, never INTERNAL.
func TestUncoercibleArgumentsAreInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, popID := e.directory()
	uid := e.createUser(org, envID, "ann", "eng", "123456", popID)
	vars := map[string]any{"e": envID, "u": uid}
	e.fails(org, `mutation($e: ID!, $u: ID!) { lockUser(input: {environmentId: $e, id: $u, until: "next tuesday"}) { position } }`,
		vars, "INVALID", "input.until")
	e.fails(org, `mutation($e: ID!, $u: ID!, $t: DateTime) { lockUser(input: {environmentId: $e, id: $u, until: $t}) { position } }`,
		map[string]any{"e": envID, "u": uid, "t": "soon"}, "INVALID", "input.until")
	e.fails(org, `mutation($e: ID!) { createApiClient(input: {environmentId: $e, name: "ci", roles: [], expiresAt: 12}) { token } }`,
		map[string]any{"e": envID}, "INVALID", "input.expiresAt")
}
