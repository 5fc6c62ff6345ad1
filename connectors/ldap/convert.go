package ldap

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// attrs is an entry's attributes as LDAP values, keyed by lower-cased attribute name; names
// keeps each key's spelling to send.
type attrs struct {
	vals  map[string][]string
	names map[string]string
}

func newAttrs() *attrs { return &attrs{vals: map[string][]string{}, names: map[string]string{}} }

func (a *attrs) add(name string, v ...string) {
	k := strings.ToLower(name)
	if _, ok := a.names[k]; !ok {
		a.names[k] = name
	}
	a.vals[k] = append(a.vals[k], v...)
}

func (a *attrs) set(name string, v ...string) {
	k := strings.ToLower(name)
	a.names[k] = name
	a.vals[k] = v
}

func (a *attrs) get(name string) []string { return a.vals[strings.ToLower(name)] }

func (a *attrs) first(name string) string {
	if v := a.get(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (a *attrs) del(name string) {
	k := strings.ToLower(name)
	delete(a.vals, k)
	delete(a.names, k)
}

func (a *attrs) keys() []string {
	out := make([]string, 0, len(a.vals))
	for k := range a.vals {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AD's userAccountControl bits.
const (
	uacAccountDisable = 0x2
	uacNormalAccount  = 0x200
)

// neverRead are attributes a Resource never shows, whatever the entry holds: secrets and what
// the directory maintains itself.
var neverRead = map[string]bool{
	"userpassword": true, "unicodepwd": true, "ntpwdhistory": true, "lmpwdhistory": true,
	"supplementalcredentials": true, "dbcspwd": true, "objectclass": true, "objectguid": true,
	"entryuuid": true, "objectsid": true, "pwdlastset": true, "badpasswordtime": true,
	"lastlogon": true, "lastlogontimestamp": true, "logoncount": true, "badpwdcount": true,
	"whencreated": true, "whenchanged": true, "usncreated": true, "usnchanged": true,
	"instancetype": true, "objectcategory": true, "dscorepropagationdata": true,
	"distinguishedname": true, "name": true, "samaccounttype": true, "primarygroupid": true,
	"memberof": true, "accountexpires": true, "codepage": true, "countrycode": true,
}

// ignoredSCIM are top-level SCIM attributes with no place in the entry: they are neither written
// nor expected back.
var ignoredSCIM = map[string]bool{"schemas": true, "id": true, "meta": true, "groups": true}

// userToLDAP maps a user's SCIM attributes to the entry's attributes. cur is the entry as it is
// (nil on create): AD's userAccountControl keeps its other bits.
func (c *Connector) userToLDAP(in map[string]any, cur *attrs) (*attrs, error) {
	s := &c.s
	out := newAttrs()
	var userName, displayName string
	active := true
	for _, k := range sortedAnyKeys(in) {
		v := in[k]
		lk := strings.ToLower(k)
		if ignoredSCIM[lk] || v == nil {
			continue
		}
		switch lk {
		case "username":
			str, ok := v.(string)
			if !ok {
				return nil, invalid("userName", "must be a string")
			}
			userName = str
		case "displayname":
			str, ok := v.(string)
			if !ok {
				return nil, invalid("displayName", "must be a string")
			}
			displayName = str
		case "name":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, invalid("name", "must be an object")
			}
			for sk, sv := range m {
				str, ok := sv.(string)
				if sv == nil {
					continue
				}
				if !ok {
					return nil, invalid("name."+sk, "must be a string")
				}
				switch strings.ToLower(sk) {
				case "givenname":
					out.set("givenName", str)
				case "familyname":
					out.set("sn", str)
				case "middlename":
					out.set("initials", str)
				default:
					// formatted, honorificPrefix…: inetOrgPerson has no place for them.
				}
			}
		case "emails", "phonenumbers":
			table := s.emails
			if lk == "phonenumbers" {
				table = s.phones
			}
			if err := typedToLDAP(k, v, table, out); err != nil {
				return nil, err
			}
		case "externalid":
			str, ok := v.(string)
			if !ok {
				return nil, invalid("externalId", "must be a string")
			}
			out.set("employeeNumber", str)
		case "active":
			b, ok := v.(bool)
			if !ok {
				return nil, invalid("active", "must be true or false")
			}
			active = b
		default:
			vals, err := passThrough(k, v)
			if err != nil {
				return nil, err
			}
			if len(vals) > 0 {
				out.set(k, vals...)
			}
		}
	}
	if userName == "" {
		return nil, invalid("userName", "required")
	}
	out.set(s.userNameAttr, userName)
	cn := displayName
	if cn == "" {
		cn = userName
	}
	if displayName != "" {
		out.set("displayName", displayName)
	}
	if c.ad() {
		out.set("cn", cn)
		uac := uacNormalAccount
		if cur != nil {
			if n, err := strconv.Atoi(cur.first("userAccountControl")); err == nil {
				uac = n
			}
		}
		if active {
			uac &^= uacAccountDisable
		} else {
			uac |= uacAccountDisable
		}
		out.set("userAccountControl", strconv.Itoa(uac))
	} else {
		out.set("cn", cn)
		// inetOrgPerson requires sn: a user without a family name gets its userName.
		if len(out.get("sn")) == 0 {
			out.set("sn", userName)
		}
		if !active {
			out.add(s.disabledAttr, s.disabledValue)
		}
	}
	return out, nil
}

func typedToLDAP(name string, v any, table []typedAttr, out *attrs) error {
	list, ok := v.([]any)
	if !ok {
		return invalid(name, "must be a list")
	}
	// The primary (else the first) element of the default type's attribute goes first, so that
	// the attribute's first value is the primary one.
	for pass := 0; pass < 2; pass++ {
		for i, el := range list {
			m, ok := el.(map[string]any)
			if !ok {
				return invalid(fmt.Sprintf("%s[%d]", name, i), "must be an object")
			}
			primary, _ := m["primary"].(bool)
			if (pass == 0) != primary {
				continue
			}
			value, ok := m["value"].(string)
			if !ok {
				if m["value"] == nil {
					continue
				}
				return invalid(fmt.Sprintf("%s[%d].value", name, i), "must be a string")
			}
			typ, _ := m["type"].(string)
			typ = strings.ToLower(typ)
			attr := ""
			for _, t := range table {
				if t.typ == typ || (typ == "" && attr == "") {
					attr = t.attr
					if t.typ == typ {
						break
					}
				}
			}
			if attr == "" {
				return invalid(fmt.Sprintf("%s[type eq %q]", name, typ), "no LDAP attribute holds this type (configure %s)", configKeyOf(name))
			}
			if !contains(out.get(attr), value) {
				out.add(attr, value)
			}
		}
	}
	return nil
}

func configKeyOf(scimName string) string {
	if strings.EqualFold(scimName, "emails") {
		return KeyEmailAttributes
	}
	return KeyPhoneAttributes
}

// passThrough converts another top-level SCIM attribute to the values of the LDAP attribute of
// the same name: a scalar is one value, a list of scalars several. Objects have no LDAP form.
func passThrough(name string, v any) ([]string, error) {
	if !validAttrName(name) {
		return nil, invalid(name, "not an LDAP attribute name")
	}
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for i, el := range x {
			s, ok := scalar(el)
			if !ok {
				return nil, invalid(fmt.Sprintf("%s[%d]", name, i), "an LDAP attribute holds strings, numbers and booleans, not objects or lists")
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	default:
		s, ok := scalar(v)
		if !ok {
			return nil, invalid(name, "an LDAP attribute holds strings, numbers and booleans, not objects")
		}
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		// LDAP's Boolean syntax (RFC 4517 §3.3.3) is TRUE or FALSE.
		if x {
			return "TRUE", true
		}
		return "FALSE", true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// userFromLDAP maps an entry read from the directory to SCIM attributes. It is the inverse of
// userToLDAP for what userToLDAP writes; any other user attribute the entry holds is shown under
// its own name (one value a string, several a list).
func (c *Connector) userFromLDAP(e *attrs) map[string]any {
	s := &c.s
	out := map[string]any{}
	done := map[string]bool{}
	take := func(name string) []string {
		done[strings.ToLower(name)] = true
		return e.get(name)
	}
	if v := take(s.userNameAttr); len(v) > 0 {
		out["userName"] = v[0]
	}
	if v := take("displayName"); len(v) > 0 {
		out["displayName"] = v[0]
	}
	take("cn")
	name := map[string]any{}
	if v := take("givenName"); len(v) > 0 {
		name["givenName"] = v[0]
	}
	if v := take("sn"); len(v) > 0 && !(v[0] == out["userName"] && !c.ad()) {
		name["familyName"] = v[0]
	}
	if v := take("initials"); len(v) > 0 {
		name["middleName"] = v[0]
	}
	if len(name) > 0 {
		out["name"] = name
	}
	if v := take("employeeNumber"); len(v) > 0 {
		out["externalId"] = v[0]
	}
	for _, f := range []struct {
		scim  string
		table []typedAttr
	}{{"emails", s.emails}, {"phoneNumbers", s.phones}} {
		var list []any
		for _, t := range f.table {
			for i, v := range take(t.attr) {
				el := map[string]any{"type": t.typ, "value": v}
				if i == 0 && len(list) == 0 {
					el["primary"] = true
				}
				list = append(list, el)
			}
		}
		if len(list) > 0 {
			out[f.scim] = list
		}
	}
	if c.ad() {
		n, _ := strconv.Atoi(first(take("userAccountControl")))
		out["active"] = n&uacAccountDisable == 0
	} else {
		vals := take(s.disabledAttr)
		active := true
		var rest []string
		for _, v := range vals {
			if strings.EqualFold(v, s.disabledValue) {
				active = false
			} else {
				rest = append(rest, v)
			}
		}
		out["active"] = active
		if len(rest) > 0 {
			out[e.names[strings.ToLower(s.disabledAttr)]] = listOrOne(rest)
		}
	}
	for _, k := range e.keys() {
		if done[k] || neverRead[k] {
			continue
		}
		out[e.names[k]] = listOrOne(e.vals[k])
	}
	return out
}

func listOrOne(v []string) any {
	if len(v) == 1 {
		return v[0]
	}
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

func first(v []string) string {
	if len(v) > 0 {
		return v[0]
	}
	return ""
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// guidString formats AD's objectGUID (16 bytes, the first three fields little-endian) as the
// usual text form.
func guidString(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("objectGUID of %d bytes, want 16", len(b))
	}
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:], b[8:])
	return u.String(), nil
}

// guidFilterValue is the escaped filter value that matches objectGUID id (text form).
func guidFilterValue(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", err
	}
	b := []byte{u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6]}
	b = append(b, u[8:]...)
	var sb strings.Builder
	for _, x := range b {
		sb.WriteString(`\`)
		sb.WriteString(hex.EncodeToString([]byte{x}))
	}
	return sb.String(), nil
}
