package projections

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/idstream/idstream/domain"
)

// userCreated is a user.created payload decoded by userCreatedDecoder, as the user the read
// model keeps: u has its ID, Profile, Custom (sorted by name) and Enabled set, and is not shared
// yet, so the fold completes it in place rather than copying it.
type userCreated struct {
	EnvironmentID, PopulationID string
	u                           *User
}

// userCreatedDecoder decodes the common shape of user.created payloads (version 1) without
// reflection: an object of the known keys, spelled exactly, whose strings hold no escapes,
// control characters or invalid UTF-8, and whose custom values are such strings or booleans.
// On anything else it declines, and the caller decodes with encoding/json: whatever it accepts,
// it decodes exactly as json.Unmarshal would. decodeUpdated does the same for user.updated
// payloads (version 1), the most common event of a log once its users exist.
//
// It allocates little per user: the user ID, one string holding every other profile string,
// one byte slice holding the custom values; environment and population IDs and custom attribute
// names are interned. It is not safe for concurrent use (one per decoding goroutine).
type userCreatedDecoder struct {
	intern  map[string]string
	pending []pendingString
	customs []pendingCustom
	values  []byte // the custom values not shared, one after the other
	// rawTrue and rawFalse are shared by every user's boolean custom values.
	rawTrue, rawFalse json.RawMessage
}

type pendingString struct {
	dst *string
	raw []byte
}

// pendingCustom is a custom value: shared, or bytes off to off+n of values.
type pendingCustom struct {
	name   string
	shared json.RawMessage
	off, n int
}

const maxInterned = 4096

func newUserCreatedDecoder() *userCreatedDecoder {
	return &userCreatedDecoder{intern: make(map[string]string, 64), rawTrue: json.RawMessage("true"), rawFalse: json.RawMessage("false")}
}

// decode returns the payload, or ok false when data is not of the shape it decodes.
func (d *userCreatedDecoder) decode(data []byte) (p *userCreated, ok bool) {
	p = &userCreated{u: &User{}}
	u := p.u
	d.pending, d.customs, d.values = d.pending[:0], d.customs[:0], d.values[:0]
	var envID, popID, userID []byte
	envSet, popSet, userSet := false, false, false
	s := jsonScanner{b: data}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "environmentId":
			envID, envSet = s.str()
			return envSet
		case "populationId":
			popID, popSet = s.str()
			return popSet
		case "userId":
			userID, userSet = s.str()
			return userSet
		case "enabled":
			v, ok := s.boolean()
			u.Enabled = v
			return ok
		case "profile":
			return s.object(func(key []byte) bool { return d.profileField(&s, &u.Profile, key) })
		case "custom":
			return s.object(func(key []byte) bool { return d.customValue(&s, key) })
		}
		return false
	}) && s.end()
	if !ok {
		return nil, false
	}
	if envSet {
		p.EnvironmentID = d.interned(envID)
	}
	if popSet {
		p.PopulationID = d.interned(popID)
	}
	if userSet {
		u.ID = string(userID)
	}
	d.setStrings()
	if len(d.customs) > 0 {
		vals := d.customValues()
		u.Custom = make([]CustomValue, len(d.customs))
		for i, c := range d.customs {
			u.Custom[i] = CustomValue{Name: c.name, Value: c.value(vals)}
		}
		slices.SortFunc(u.Custom, func(a, b CustomValue) int { return strings.Compare(a.Name, b.Name) })
	}
	return p, true
}

// decodeUpdated decodes a user.updated payload (version 1) of the same shape as decode's, as
// encoding/json decodes it into a domain.UserUpdated; ok is false when data is not of that shape.
func (d *userCreatedDecoder) decodeUpdated(data []byte) (p domain.UserUpdated, ok bool) {
	d.pending, d.customs, d.values = d.pending[:0], d.customs[:0], d.values[:0]
	var envID, userID []byte
	envSet, userSet, customSet := false, false, false
	s := jsonScanner{b: data}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "environmentId":
			envID, envSet = s.str()
			return envSet
		case "userId":
			userID, userSet = s.str()
			return userSet
		case "profile":
			return s.object(func(key []byte) bool { return d.profileField(&s, &p.Profile, key) })
		case "custom":
			customSet = true
			return s.object(func(key []byte) bool { return d.customValue(&s, key) })
		}
		return false
	}) && s.end()
	if !ok {
		return domain.UserUpdated{}, false
	}
	if envSet {
		p.EnvironmentID = d.interned(envID)
	}
	if userSet {
		p.UserID = string(userID)
	}
	d.setStrings()
	if customSet { // an empty object too: encoding/json makes the map
		vals := d.customValues()
		p.Custom = make(domain.CustomValues, len(d.customs))
		for _, c := range d.customs {
			p.Custom[c.name] = c.value(vals)
		}
	}
	return p, true
}

// setStrings sets every pending string, all of them sharing one allocation.
func (d *userCreatedDecoder) setStrings() {
	n := 0
	for _, ps := range d.pending {
		n += len(ps.raw)
	}
	if n == 0 {
		for _, ps := range d.pending {
			*ps.dst = ""
		}
		return
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, ps := range d.pending {
		sb.Write(ps.raw)
	}
	all, off := sb.String(), 0
	for _, ps := range d.pending {
		*ps.dst = all[off : off+len(ps.raw)]
		off += len(ps.raw)
	}
}

// customValues returns a copy of the custom values' bytes, for the payload to own.
func (d *userCreatedDecoder) customValues() []byte {
	if len(d.values) == 0 {
		return nil
	}
	return slices.Clone(d.values)
}

// value returns c's value, its bytes in vals (see customValues) unless shared.
func (c pendingCustom) value(vals []byte) json.RawMessage {
	if c.shared != nil {
		return c.shared
	}
	return json.RawMessage(vals[c.off : c.off+c.n : c.off+c.n])
}

func (d *userCreatedDecoder) interned(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.intern) < maxInterned {
		d.intern[s] = s
	}
	return s
}

func (d *userCreatedDecoder) profileField(s *jsonScanner, p *domain.Profile, key []byte) bool {
	var dst *string
	switch string(key) {
	case "username":
		dst = &p.Username
	case "email":
		dst = &p.Email
	case "nickname":
		dst = &p.Nickname
	case "title":
		dst = &p.Title
	case "preferredLanguage":
		dst = &p.PreferredLanguage
	case "locale":
		dst = &p.Locale
	case "timezone":
		dst = &p.Timezone
	case "primaryPhone":
		dst = &p.PrimaryPhone
	case "mobilePhone":
		dst = &p.MobilePhone
	case "externalId":
		dst = &p.ExternalID
	case "accountId":
		dst = &p.AccountID
	case "type":
		dst = &p.Type
	case "photo":
		dst = &p.Photo
	case "name":
		return s.object(func(key []byte) bool {
			var dst *string
			switch string(key) {
			case "formatted":
				dst = &p.Name.Formatted
			case "given":
				dst = &p.Name.Given
			case "middle":
				dst = &p.Name.Middle
			case "family":
				dst = &p.Name.Family
			case "honorificPrefix":
				dst = &p.Name.HonorificPrefix
			case "honorificSuffix":
				dst = &p.Name.HonorificSuffix
			default:
				return false
			}
			return d.pendingStr(s, dst)
		})
	case "address":
		return s.object(func(key []byte) bool {
			var dst *string
			switch string(key) {
			case "streetAddress":
				dst = &p.Address.StreetAddress
			case "locality":
				dst = &p.Address.Locality
			case "region":
				dst = &p.Address.Region
			case "postalCode":
				dst = &p.Address.PostalCode
			case "countryCode":
				dst = &p.Address.CountryCode
			default:
				return false
			}
			return d.pendingStr(s, dst)
		})
	default:
		return false
	}
	return d.pendingStr(s, dst)
}

func (d *userCreatedDecoder) pendingStr(s *jsonScanner, dst *string) bool {
	raw, ok := s.str()
	if ok {
		d.pending = append(d.pending, pendingString{dst: dst, raw: raw})
	}
	return ok
}

// customValue reads one custom value: a string (kept with its quotes, as JSON) or a boolean.
// A name seen twice keeps its last value, as encoding/json does in a map.
func (d *userCreatedDecoder) customValue(s *jsonScanner, key []byte) bool {
	c := pendingCustom{}
	s.ws() // the value's bytes start at its first byte, as a json.RawMessage's do
	start := s.i
	if s.peek() == '"' {
		if _, ok := s.str(); !ok {
			return false
		}
		c.off, c.n = len(d.values), s.i-start
		d.values = append(d.values, s.b[start:s.i]...)
	} else if v, ok := s.boolean(); ok {
		c.shared = d.rawFalse
		if v {
			c.shared = d.rawTrue
		}
	} else {
		return false
	}
	if i := slices.IndexFunc(d.customs, func(c pendingCustom) bool { return c.name == string(key) }); i >= 0 {
		d.customs = slices.Delete(d.customs, i, i+1) // rare; its bytes stay unused in values
	}
	c.name = d.interned(key)
	d.customs = append(d.customs, c)
	return true
}

// jsonScanner reads the JSON subset userCreatedDecoder accepts; every method reports false on
// anything outside it.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end reports whether only white space is left.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a string without escapes, control characters or invalid UTF-8 and returns its
// content.
func (s *jsonScanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.i + 1
	ascii := true
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			v := s.b[start:i]
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			s.i = i + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (s *jsonScanner) boolean() (v, ok bool) {
	switch s.peek() {
	case 't':
		if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true" {
			s.i += 4
			return true, true
		}
	case 'f':
		if len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false" {
			s.i += 5
			return false, true
		}
	}
	return false, false
}

// object reads an object, calling field for each key with the scanner at its value; field
// reads the value.
func (s *jsonScanner) object(field func(key []byte) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		key, ok := s.str()
		if !ok || s.peek() != ':' {
			return false
		}
		s.i++
		if !field(key) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}
