// Package model holds the GraphQL types gqlgen generates from graph/schema (models_gen.go) and
// the custom scalars they use.
package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// JSON is the JSON scalar: any JSON value, kept as its encoding. The zero JSON marshals as null.
type JSON json.RawMessage

// MarshalGQL writes the value as is (null when empty).
func (j JSON) MarshalGQL(w io.Writer) {
	if len(j) == 0 {
		_, _ = io.WriteString(w, "null")
		return
	}
	_, _ = w.Write(j)
}

// UnmarshalGQL accepts any value decoded from the request (variables or an inline literal) and
// keeps its JSON encoding.
func (j *JSON) UnmarshalGQL(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("not a JSON value: %w", err)
	}
	*j = JSON(bytes.Clone(b))
	return nil
}
