package domain

import (
	"regexp"
	"strconv"
)

// conflictAt finds the position in the SCIM filter parser's messages ("parse conflict
// [00:015]: ..."): line and column, 1-based.
var conflictAt = regexp.MustCompile(`\[(\d+):(\d+)\]`)

// FilterSyntaxError is the INVALID error on field for a SCIM filter the parser refused. The
// parser's own message names its internals, so only the position it reports is kept, with the
// text from there on.
func FilterSyntaxError(field, filter, parserMessage string) error {
	const hint = `want "attribute operator value" clauses joined by and/or, e.g. username eq "bjensen" and not (title pr)`
	if m := conflictAt.FindStringSubmatch(parserMessage); m != nil {
		col, err := strconv.Atoi(m[2])
		if err == nil && col >= 1 && col <= len(filter) {
			rest := []rune(filter[col-1:])
			if len(rest) > 24 {
				rest = append(rest[:24], '…')
			}
			return Invalidf(field, "not a valid SCIM filter: cannot parse from character %d (%q); %s", col, string(rest), hint)
		}
	}
	return Invalidf(field, "not a valid SCIM filter; %s", hint)
}
