package ldap

import (
	"context"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
)

type pathT = mapping.Path

func parsePath(p string) (mapping.Path, error) {
	path, err := mapping.ParsePath(p)
	if err != nil {
		return mapping.Path{}, invalid("path", "%q: %v", p, err)
	}
	return path, nil
}

// groupToLDAP maps a group's SCIM attributes to the entry's: displayName is cn (the RDN),
// members' IDs become member DNs, any other top-level attribute passes through.
func (c *Connector) groupToLDAP(conn *goldap.Conn, in map[string]any) (*attrs, error) {
	out := newAttrs()
	var ids []string
	for _, k := range sortedAnyKeys(in) {
		v := in[k]
		lk := strings.ToLower(k)
		if ignoredSCIM[lk] || v == nil {
			continue
		}
		switch lk {
		case "displayname":
			s, ok := v.(string)
			if !ok || s == "" {
				return nil, invalid("displayName", "must be a non-empty string")
			}
			out.set("cn", s)
		case "members":
			list, ok := v.([]any)
			if !ok {
				return nil, invalid("members", "must be a list")
			}
			for i, el := range list {
				m, _ := el.(map[string]any)
				id, _ := m["value"].(string)
				if id == "" {
					return nil, invalid(fmt.Sprintf("members[%d].value", i), "must be a member's ID")
				}
				ids = append(ids, id)
			}
		case "externalid":
			// groupOfNames has no place for it.
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
	if out.first("cn") == "" {
		return nil, invalid("displayName", "required")
	}
	if len(ids) > 0 {
		dns, err := c.dnsOf(conn, ids)
		if err != nil {
			return nil, err
		}
		out.set("member", dns...)
	}
	return out, nil
}

// dnsOf returns the DNs of the entries with ids (users or groups), in order.
func (c *Connector) dnsOf(conn *goldap.Conn, ids []string) ([]string, error) {
	dns := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		dn, err := c.dnOf(conn, id)
		if err != nil {
			return nil, err
		}
		dns = append(dns, dn)
	}
	return dns, nil
}

func (c *Connector) dnOf(conn *goldap.Conn, id string) (string, error) {
	f, err := c.idFilter(id)
	if err != nil {
		return "", err
	}
	bases := []string{c.s.usersBase}
	if !strings.EqualFold(c.s.groupsBase, c.s.usersBase) {
		bases = append(bases, c.s.groupsBase)
	}
	for _, base := range bases {
		res, err := conn.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			1, 0, false, f, []string{"1.1"}, nil))
		if err != nil {
			return "", err
		}
		if len(res.Entries) > 0 {
			return res.Entries[0].DN, nil
		}
	}
	return "", &connectors.Error{Class: connectors.ClassNotFound, Op: "resolve member", Err: fmt.Errorf("no user or group with %s %s", c.idAttr(), id)}
}

// groupFromLDAP maps a group entry to SCIM attributes; each member DN is read for its ID. A
// member DN that names no entry (or the placeholder) is left out.
func (c *Connector) groupFromLDAP(conn *goldap.Conn, e entry) (map[string]any, error) {
	out := map[string]any{}
	if cn := e.a.first("cn"); cn != "" {
		out["displayName"] = cn
	}
	placeholder := c.placeholderDN(e.dn)
	var members []any
	for _, dn := range e.a.get("member") {
		if c.s.placeholderMembers && strings.EqualFold(dn, placeholder) {
			continue
		}
		id, err := c.idOf(conn, dn)
		if err != nil {
			return nil, err
		}
		if id != "" {
			members = append(members, map[string]any{"value": id})
		}
	}
	if members == nil {
		members = []any{}
	}
	out["members"] = members
	for _, k := range e.a.keys() {
		if k == "cn" || k == "member" || neverRead[k] {
			continue
		}
		out[e.a.names[k]] = listOrOne(e.a.vals[k])
	}
	return out, nil
}

// idOf returns the ID of the entry at dn, "" when there is none.
func (c *Connector) idOf(conn *goldap.Conn, dn string) (string, error) {
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{c.idAttr()}, nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if len(res.Entries) == 0 {
		return "", nil
	}
	e, err := c.toEntry(res.Entries[0])
	if err != nil {
		return "", nil //nolint:nilerr // an entry without an ID (the rootdn, an alias) is no member we can name
	}
	return e.id, nil
}

// permissiveModify is the LDAP_SERVER_PERMISSIVE_MODIFY_OID control (OpenLDAP and AD): adding a
// value that is there or deleting one that is not succeeds, so concurrent member updates of one
// group do not fail each other.
const permissiveModify = "1.2.840.113556.1.4.1413"

// UpdateMembers adds and removes members of group groupID in one modify request.
func (c *Connector) UpdateMembers(ctx context.Context, groupID string, add, remove []string) error {
	return c.with(ctx, "update members", func(conn *goldap.Conn) error {
		g, err := c.lookup(conn, connectors.KindGroup, groupID)
		if err != nil {
			return err
		}
		addDNs, err := c.dnsOf(conn, add)
		if err != nil {
			return err
		}
		var delDNs []string
		for _, id := range remove {
			dn, err := c.dnOf(conn, id)
			if connectors.ClassOf(err) == connectors.ClassNotFound {
				continue // a member that no longer exists is not in the group either
			}
			if err != nil {
				return err
			}
			delDNs = append(delDNs, dn)
		}
		// The group's entry, just read, says which members are there: the modify adds only
		// absent members and deletes only present ones (slapd 2.5 answers noSuchAttribute to a
		// delete of an absent value even under permissive modify, which is sent all the same
		// for the race with a concurrent change).
		has := func(dn string) bool {
			for _, m := range g.a.get("member") {
				if strings.EqualFold(m, dn) {
					return true
				}
			}
			return false
		}
		var adds, dels []string
		for _, dn := range addDNs {
			if !has(dn) {
				adds = append(adds, dn)
			}
		}
		for _, dn := range delDNs {
			if has(dn) && !containsFold(dels, dn) {
				dels = append(dels, dn)
			}
		}
		if c.s.placeholderMembers {
			placeholder := c.placeholderDN(g.dn)
			remaining := len(g.a.get("member")) + len(adds) - len(dels)
			switch {
			case has(placeholder) && len(adds) > 0 && !containsFold(addDNs, placeholder):
				dels = append(dels, placeholder)
			case remaining == 0:
				// The last members leave: groupOfNames needs one, the placeholder.
				adds = append(adds, placeholder)
			}
		}
		if len(adds) == 0 && len(dels) == 0 {
			return nil
		}
		mod := goldap.NewModifyRequest(g.dn, []goldap.Control{goldap.NewControlString(permissiveModify, false, "")})
		if len(adds) > 0 {
			mod.Add("member", adds)
		}
		if len(dels) > 0 {
			mod.Delete("member", dels)
		}
		err = conn.Modify(mod)
		return err
	})
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
