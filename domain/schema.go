package domain

// The user schema of an environment: its custom attributes, folded from schema-<environment id>.
//
// Defined effects of schema changes (they go to README as they are):
//
//   - Removing an attribute that holds data is refused (ErrConflict, saying how many users hold
//     a value) unless forced; a forced removal drops every user's value of it (projections do
//     that on schema.attribute_removed, which records Forced).
//   - Narrowing a rule (required added, maxLength lowered, enum shrunk, regex added or changed)
//     never rewrites or invalidates stored users: stored values stay readable, and an update
//     that leaves such a value as it is still succeeds (the value is grandfathered). Any new or
//     changed value must satisfy the new rule. A user stored without a value of a newly
//     required attribute stays valid until an update gives it one.
//   - Type and multiValued cannot change while any user holds a value (ErrConflict); unique can
//     be turned on only while no user holds a value (ErrConflict), because existing duplicates
//     could not be reserved.
//   - unique applies to single-valued STRING attributes only; values are compared
//     case-insensitively, surrounding space ignored.
//   - Attribute names are case-insensitively unique and never renamed. The name of an attribute
//     removed while it held data (a forced removal) cannot be used again: users' earlier values
//     and unique reservations of it remain in the log, and a new attribute must not inherit
//     them. An attribute removed while it held nothing leaves its name free.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Schema is an environment's custom attribute definitions. The zero Schema has none.
type Schema struct {
	EnvironmentID string
	attrs         map[string]AttributeDef // by lower-case name
	regex         map[string]*regexp.Regexp
	order         []string // lower-case names, in the order they were added
	// retired holds the lower-case names of attributes removed by force: never reused.
	retired map[string]bool
}

// Apply folds one event payload into the state.
func (s *Schema) Apply(event any) {
	switch ev := event.(type) {
	case SchemaAttributeAdded:
		s.EnvironmentID = ev.EnvironmentID
		s.put(ev.Attribute)
		s.order = append(s.order, strings.ToLower(ev.Attribute.Name))
	case SchemaAttributeUpdated:
		s.put(ev.Attribute)
	case SchemaAttributeRemoved:
		k := strings.ToLower(ev.Name)
		if ev.Forced {
			if s.retired == nil {
				s.retired = map[string]bool{}
			}
			s.retired[k] = true
		}
		delete(s.attrs, k)
		delete(s.regex, k)
		s.order = slices.DeleteFunc(s.order, func(n string) bool { return n == k })
	}
}

func (s *Schema) put(def AttributeDef) {
	if s.attrs == nil {
		s.attrs, s.regex = map[string]AttributeDef{}, map[string]*regexp.Regexp{}
	}
	k := strings.ToLower(def.Name)
	s.attrs[k] = def
	delete(s.regex, k)
	if def.Regex != "" {
		if re, err := compileFull(def.Regex); err == nil {
			s.regex[k] = re
		}
	}
}

func compileFull(expr string) (*regexp.Regexp, error) { return regexp.Compile(`^(?:` + expr + `)$`) }

// Attribute returns the definition of the attribute named name (any case).
func (s *Schema) Attribute(name string) (AttributeDef, bool) {
	def, ok := s.attrs[strings.ToLower(name)]
	return def, ok
}

// Attributes returns the definitions in the order they were added.
func (s *Schema) Attributes() []AttributeDef {
	out := make([]AttributeDef, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.attrs[k])
	}
	return out
}

// UniqueAttributes returns the definitions marked unique.
func (s *Schema) UniqueAttributes() []AttributeDef {
	var out []AttributeDef
	for _, k := range s.order {
		if s.attrs[k].Unique {
			out = append(out, s.attrs[k])
		}
	}
	return out
}

var attributeNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// Limits of attribute definitions.
const (
	MaxAttributeLength = 65536
	maxEnumValues      = 1000
)

// ValidateAttributeDef checks a definition on its own and returns every problem joined, each a
// *FieldError named after the input ("name", "type", "enum[2]", "regex", "maxLength", ...).
func ValidateAttributeDef(def AttributeDef) error {
	var errs []error
	switch {
	case !attributeNameRE.MatchString(def.Name):
		errs = append(errs, Invalidf("name", "must start with a letter and hold only letters, digits and _ (at most 64)"))
	case IsReservedAttributeName(def.Name):
		errs = append(errs, Invalidf("name", "%q is a core or system attribute", def.Name))
	}
	if n := utf8.RuneCountInString(def.DisplayName); n > 256 {
		errs = append(errs, Invalidf("displayName", "must be at most 256 characters"))
	}
	if err := validateDescription("description", def.Description); err != nil {
		errs = append(errs, err)
	}
	switch def.Type {
	case AttributeString, AttributeBoolean, AttributeJSON:
	default:
		errs = append(errs, Invalidf("type", "must be STRING, BOOLEAN or JSON"))
	}
	if def.Type != AttributeString {
		if len(def.Enum) > 0 {
			errs = append(errs, Invalidf("enum", "only STRING attributes take an enum"))
		}
		if def.Regex != "" {
			errs = append(errs, Invalidf("regex", "only STRING attributes take a regex"))
		}
		if def.MaxLength != 0 {
			errs = append(errs, Invalidf("maxLength", "only STRING attributes take a maxLength"))
		}
		if def.Unique {
			errs = append(errs, Invalidf("unique", "only STRING attributes can be unique"))
		}
		return errors.Join(errs...)
	}
	if def.Unique && def.MultiValued {
		errs = append(errs, Invalidf("unique", "a multi-valued attribute cannot be unique"))
	}
	if def.MaxLength < 0 || def.MaxLength > MaxAttributeLength {
		errs = append(errs, Invalidf("maxLength", "must be between 1 and %d", MaxAttributeLength))
	}
	var re *regexp.Regexp
	if def.Regex != "" {
		var err error
		if re, err = compileFull(def.Regex); err != nil || len(def.Regex) > 1024 {
			errs = append(errs, Invalidf("regex", "is not a valid regular expression (RE2 syntax, at most 1024 bytes)"))
		}
	}
	if len(def.Enum) > maxEnumValues {
		errs = append(errs, Invalidf("enum", "must have at most %d values", maxEnumValues))
	}
	seen := map[string]bool{}
	for i, v := range def.Enum {
		f := fmt.Sprintf("enum[%d]", i)
		switch {
		case seen[v]:
			errs = append(errs, Invalidf(f, "%q is listed twice", v))
		case def.MaxLength > 0 && utf8.RuneCountInString(v) > def.MaxLength:
			errs = append(errs, Invalidf(f, "is longer than maxLength %d", def.MaxLength))
		case re != nil && !re.MatchString(v):
			errs = append(errs, Invalidf(f, "does not match regex"))
		}
		seen[v] = true
	}
	return errors.Join(errs...)
}

// AddAttribute decides the addition of def. A name taken (in any case) is ErrConflict on "name".
func (s *Schema) AddAttribute(env string, def AttributeDef) ([]any, error) {
	if err := ValidateAttributeDef(def); err != nil {
		return nil, err
	}
	if _, ok := s.Attribute(def.Name); ok {
		return nil, FieldConflictf("name", "attribute %q already exists", def.Name)
	}
	if s.retired[strings.ToLower(def.Name)] {
		return nil, FieldConflictf("name", "attribute %q was removed while users held values of it; its name cannot be used again", def.Name)
	}
	def.Enum = slices.Clone(def.Enum)
	return []any{SchemaAttributeAdded{EnvironmentID: env, Attribute: def}}, nil
}

// AttributeChange classifies an update of a definition.
type AttributeChange struct {
	TypeChanged        bool // type or multiValued
	UniqueTurnedOn     bool
	Narrowed           bool // required added, maxLength lowered, enum shrunk, regex added or changed
	NeedsUsage         bool // deciding or reporting needs the number of users holding values
	NothingChanged     bool
	PreviousDefinition AttributeDef
}

// CompareAttribute classifies replacing the definition named def.Name by def. The attribute
// must exist (else ErrNotFound).
func (s *Schema) CompareAttribute(def AttributeDef) (AttributeChange, error) {
	old, ok := s.Attribute(def.Name)
	if !ok {
		return AttributeChange{}, &FieldError{Field: "name", Reason: fmt.Sprintf("no attribute %q", def.Name), Kind: ErrNotFound}
	}
	c := AttributeChange{PreviousDefinition: old}
	c.TypeChanged = old.Type != def.Type || old.MultiValued != def.MultiValued
	c.UniqueTurnedOn = def.Unique && !old.Unique
	c.Narrowed = (def.Required && !old.Required) ||
		(def.MaxLength > 0 && (old.MaxLength == 0 || def.MaxLength < old.MaxLength)) ||
		(len(def.Enum) > 0 && (len(old.Enum) == 0 || slices.ContainsFunc(old.Enum, func(v string) bool { return !slices.Contains(def.Enum, v) }))) ||
		(def.Regex != "" && def.Regex != old.Regex)
	c.NeedsUsage = c.TypeChanged || c.UniqueTurnedOn || c.Narrowed
	def.Name = old.Name
	c.NothingChanged = equalDefs(old, def)
	return c, nil
}

func equalDefs(a, b AttributeDef) bool {
	return a.Name == b.Name && a.DisplayName == b.DisplayName && a.Description == b.Description && a.Type == b.Type &&
		a.Required == b.Required && a.Unique == b.Unique && a.MultiValued == b.MultiValued &&
		slices.Equal(a.Enum, b.Enum) && a.Regex == b.Regex && a.MaxLength == b.MaxLength
}

// UpdateAttribute decides replacing the definition named def.Name (any case; the stored name is
// kept) by def. holding is the number of users holding a value of it, as far as the caller
// knows; it matters only when CompareAttribute says NeedsUsage. No change records nothing.
func (s *Schema) UpdateAttribute(env string, def AttributeDef, holding int) ([]any, error) {
	c, err := s.CompareAttribute(def)
	if err != nil {
		return nil, err
	}
	def.Name = c.PreviousDefinition.Name
	if err := ValidateAttributeDef(def); err != nil {
		return nil, err
	}
	switch {
	case c.NothingChanged:
		return nil, nil
	case c.TypeChanged && holding > 0:
		return nil, Conflictf("attribute %q: type and multiValued cannot change while %d users hold values", def.Name, holding)
	case c.UniqueTurnedOn && holding > 0:
		return nil, Conflictf("attribute %q: unique can be turned on only while no user holds a value (%d do): existing values could be duplicates", def.Name, holding)
	}
	def.Enum = slices.Clone(def.Enum)
	return []any{SchemaAttributeUpdated{EnvironmentID: env, Attribute: def}}, nil
}

// RemoveAttribute decides the removal of the attribute named name. holding users hold values of
// it: the removal is refused (ErrConflict) unless force, in which case their values go with it.
func (s *Schema) RemoveAttribute(env, name string, holding int, force bool) ([]any, error) {
	def, ok := s.Attribute(name)
	if !ok {
		return nil, &FieldError{Field: "name", Reason: fmt.Sprintf("no attribute %q", name), Kind: ErrNotFound}
	}
	if holding > 0 && !force {
		return nil, Conflictf("attribute %q holds values of %d users: remove it with force to drop them", def.Name, holding)
	}
	return []any{SchemaAttributeRemoved{EnvironmentID: env, Name: def.Name, Forced: force && holding > 0}}, nil
}

// KnownOnly returns values without the attributes the schema no longer defines (a forced
// removal dropped them). Keys are matched exactly.
func (s *Schema) KnownOnly(values CustomValues) CustomValues {
	out := make(CustomValues, len(values))
	for k, v := range values {
		if def, ok := s.Attribute(k); ok && def.Name == k {
			out[k] = v
		}
	}
	return out
}

// NormalizeCustom compacts each JSON value and drops JSON nulls (a null means no value). A value
// that is not JSON is a *FieldError on "customAttributes.<name>"; every problem is returned.
func NormalizeCustom(values CustomValues) (CustomValues, error) {
	out := make(CustomValues, len(values))
	var errs []error
	for _, k := range sortedKeys(values) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, values[k]); err != nil {
			errs = append(errs, Invalidf("customAttributes."+k, "is not valid JSON"))
			continue
		}
		if buf.String() == "null" {
			continue
		}
		out[k] = json.RawMessage(buf.Bytes())
	}
	return out, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ValidateCustom checks values (normalized, see NormalizeCustom) against the schema and returns
// every problem joined, each a *FieldError on "customAttributes.<name>" or
// "customAttributes.<name>[i]": unknown attribute, wrong JSON type, multi-valued without an
// array, enum, regex (whole value), maxLength (in characters), required missing. A value equal
// to the one in previous (the stored values; nil on creation) is not re-checked, nor is a
// required attribute missing from both: stored data is grandfathered when rules narrow.
func (s *Schema) ValidateCustom(values CustomValues, previous CustomValues) error {
	var errs []error
	for _, k := range sortedKeys(values) {
		field := "customAttributes." + k
		def, ok := s.Attribute(k)
		if !ok || def.Name != k {
			if ok {
				errs = append(errs, Invalidf(field, "unknown attribute (did you mean %q?)", def.Name))
			} else {
				errs = append(errs, Invalidf(field, "unknown attribute"))
			}
			continue
		}
		if prev, had := previous[k]; had && bytes.Equal(prev, values[k]) {
			continue
		}
		errs = append(errs, s.checkValue(def, field, values[k])...)
	}
	for _, k := range s.order {
		def := s.attrs[k]
		if !def.Required || present(values[def.Name]) {
			continue
		}
		if previous != nil && !present(previous[def.Name]) {
			continue
		}
		errs = append(errs, Invalidf("customAttributes."+def.Name, "is required"))
	}
	return errors.Join(errs...)
}

func present(v json.RawMessage) bool {
	return len(v) > 0 && string(v) != "null" && string(v) != "[]"
}

func (s *Schema) checkValue(def AttributeDef, field string, raw json.RawMessage) []error {
	if !def.MultiValued {
		return s.checkScalar(def, field, raw)
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return []error{Invalidf(field, "is multi-valued: want a JSON array")}
	}
	var errs []error
	for i, item := range items {
		errs = append(errs, s.checkScalar(def, fmt.Sprintf("%s[%d]", field, i), item)...)
	}
	return errs
}

func (s *Schema) checkScalar(def AttributeDef, field string, raw json.RawMessage) []error {
	switch def.Type {
	case AttributeBoolean:
		if string(raw) != "true" && string(raw) != "false" {
			return []error{Invalidf(field, "want a boolean")}
		}
		return nil
	case AttributeJSON:
		if string(raw) == "null" {
			return []error{Invalidf(field, "want a JSON value, not null")}
		}
		return nil
	}
	var v string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
		return []error{Invalidf(field, "want a string")}
	}
	var errs []error
	if def.MaxLength > 0 && utf8.RuneCountInString(v) > def.MaxLength {
		errs = append(errs, Invalidf(field, "is longer than %d characters", def.MaxLength))
	}
	if len(def.Enum) > 0 && !slices.Contains(def.Enum, v) {
		errs = append(errs, Invalidf(field, "must be one of %s", strings.Join(def.Enum, ", ")))
	}
	if re := s.regex[strings.ToLower(def.Name)]; re != nil && !re.MatchString(v) {
		errs = append(errs, Invalidf(field, "does not match the attribute's pattern"))
	}
	return errs
}

// UniqueValue returns the string value of the unique attribute def in values ("" when absent).
func UniqueValue(def AttributeDef, values CustomValues) string {
	var v string
	if raw, ok := values[def.Name]; ok && json.Unmarshal(raw, &v) == nil {
		return v
	}
	return ""
}
