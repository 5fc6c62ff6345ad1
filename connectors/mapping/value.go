package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
)

// Equal reports whether two JSON values are equal after normalization: numbers of any Go kind
// compare as float64 (1 == 1.0), strings exactly, lists element-wise in order, objects key by
// key; nil and absent are the same (a nil value inside an object equals a missing key).
func Equal(a, b any) bool {
	a, b = Normalize(a), Normalize(b)
	return reflect.DeepEqual(a, b)
}

// Normalize returns v in JSON shape: numbers as float64, []string and other slices as []any,
// maps with string keys as map[string]any, nil entries of objects dropped, and other values
// (structs) through a JSON round trip. It never modifies v.
func Normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			out[k] = Normalize(e)
		}
		return out
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return string(raw)
	}
	return Normalize(out)
}

// Digest returns a short stable digest of a JSON value: the hex of the first 16 bytes of the
// sha256 of its canonical JSON (normalized as Equal does, object keys sorted). Equal values
// have equal digests. It is used to remember what was written without keeping the value.
func Digest(v any) string {
	raw, err := json.Marshal(Normalize(v)) // encoding/json sorts map keys
	if err != nil {
		raw = []byte(fmt.Sprintf("%#v", v))
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}
