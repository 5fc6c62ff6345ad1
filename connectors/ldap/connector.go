package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// Connector is a connection pool to one LDAP directory. It is safe for concurrent use.
type Connector struct {
	s settings
	// slots holds poolSize connections, nil until first used or after a connection failed: an
	// operation takes a slot for its duration, so at most poolSize operations run at once.
	slots chan *goldap.Conn
}

var (
	_ connectors.Connector     = (*Connector)(nil)
	_ connectors.Checker       = (*Connector)(nil)
	_ connectors.MemberUpdater = (*Connector)(nil)
	_ connectors.Lister        = (*Connector)(nil)
	_ connectors.Describer     = (*Connector)(nil)
)

// Factories returns the factory of the LDAP store type.
func Factories() connectors.Factories {
	return connectors.Factories{domain.StoreLDAP: func(cfg connectors.StoreConfig) (connectors.Connector, error) {
		c, err := New(cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}}
}

// New validates cfg and returns a connector. It does not contact the directory (Check does).
func New(cfg connectors.StoreConfig) (*Connector, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	c := &Connector{s: s, slots: make(chan *goldap.Conn, s.poolSize)}
	for range s.poolSize {
		c.slots <- nil
	}
	return c, nil
}

func (c *Connector) ad() bool { return c.s.flavor == FlavorAD }

// Features: users and groups, deleted for real; LDAP has no rate limit of its own.
func (c *Connector) Features() connectors.Features {
	return connectors.Features{Groups: true, HardDelete: true}
}

// Close closes the pooled connections. Operations after Close dial again.
func (c *Connector) Close() error {
	for range c.s.poolSize {
		conn := <-c.slots
		if conn != nil {
			_ = conn.Close()
		}
		defer func() { c.slots <- nil }()
	}
	return nil
}

func (c *Connector) dial() (*goldap.Conn, error) {
	d := &net.Dialer{Timeout: c.s.timeout}
	opts := []goldap.DialOpt{goldap.DialWithDialer(d)}
	if c.s.url.Scheme == "ldaps" {
		opts = append(opts, goldap.DialWithTLSConfig(c.s.tls))
	}
	conn, err := goldap.DialURL(c.s.url.String(), opts...)
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(c.s.timeout)
	if c.s.startTLS {
		if err := conn.StartTLS(c.s.tls); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if c.s.bindDN != "" {
		if err := conn.Bind(c.s.bindDN, c.s.password); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// with runs fn on a pooled connection, dialing one when the slot has none. A connection that
// failed is closed and its slot emptied, so the next operation dials again: the connector never
// retries (the runtime does).
func (c *Connector) with(ctx context.Context, op string, fn func(*goldap.Conn) error) error {
	var conn *goldap.Conn
	select {
	case conn = <-c.slots:
	case <-ctx.Done():
		return classify(op, ctx.Err())
	}
	if conn != nil && conn.IsClosing() {
		conn.Close()
		conn = nil
	}
	if conn == nil {
		var err error
		if conn, err = c.dial(); err != nil {
			c.slots <- nil
			return classify(op, err)
		}
	}
	if err := ctx.Err(); err != nil {
		c.slots <- conn
		return classify(op, err)
	}
	err := fn(conn)
	if err != nil && isConnErr(err) {
		conn.Close()
		conn = nil
	}
	c.slots <- conn
	return classify(op, err)
}

// Check binds and reads the users' (and groups') base entries.
func (c *Connector) Check(ctx context.Context) error {
	return c.with(ctx, "check", func(conn *goldap.Conn) error {
		for _, base := range []string{c.s.usersBase, c.s.groupsBase} {
			_, err := conn.Search(goldap.NewSearchRequest(base, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
				1, int(c.s.timeout.Seconds()), false, "(objectClass=*)", []string{"1.1"}, nil))
			if err != nil {
				return fmt.Errorf("base %s: %w", base, err)
			}
		}
		return nil
	})
}

func (c *Connector) idAttr() string {
	if c.ad() {
		return "objectGUID"
	}
	return "entryUUID"
}

// idFilter returns the filter matching id.
func (c *Connector) idFilter(id string) (string, error) {
	if id == "" {
		return "", invalid("id", "required")
	}
	if c.ad() {
		v, err := guidFilterValue(id)
		if err != nil {
			return "", invalid("id", "not an objectGUID: %q", id)
		}
		return "(objectGUID=" + v + ")", nil
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return "", invalid("id", "not an entryUUID: %q", id)
	}
	return "(entryUUID=" + u.String() + ")", nil
}

func (c *Connector) kindBase(kind connectors.Kind) (base, classFilter string, err error) {
	switch kind {
	case connectors.KindUser:
		return c.s.usersBase, "(objectClass=" + c.userClass() + ")", nil
	case connectors.KindGroup:
		return c.s.groupsBase, "(objectClass=" + c.s.groupClass + ")", nil
	}
	return "", "", invalid("kind", "must be user or group, not %q", kind)
}

// userClass is the object class that tells users: the first configured one but "top".
func (c *Connector) userClass() string {
	for _, oc := range c.s.userClasses {
		if !strings.EqualFold(oc, "top") {
			return oc
		}
	}
	return c.s.userClasses[0]
}

var readAttrs = []string{"*", "entryUUID", "objectGUID"}

// entry is an entry read: its DN, ID and attributes.
type entry struct {
	dn, id string
	a      *attrs
}

func (c *Connector) toEntry(e *goldap.Entry) (entry, error) {
	out := entry{dn: e.DN, a: newAttrs()}
	for _, at := range e.Attributes {
		if strings.EqualFold(at.Name, "objectGUID") {
			if len(at.ByteValues) > 0 {
				id, err := guidString(at.ByteValues[0])
				if err != nil {
					return entry{}, err
				}
				out.id = id
			}
			continue
		}
		if strings.EqualFold(at.Name, "entryUUID") && !c.ad() {
			out.id = first(at.Values)
			continue
		}
		out.a.add(at.Name, at.Values...)
	}
	if out.id == "" {
		return entry{}, fmt.Errorf("entry %s has no %s", e.DN, c.idAttr())
	}
	return out, nil
}

// lookup returns the entry of kind with id.
func (c *Connector) lookup(conn *goldap.Conn, kind connectors.Kind, id string) (entry, error) {
	idf, err := c.idFilter(id)
	if err != nil {
		return entry{}, err
	}
	base, cf, err := c.kindBase(kind)
	if err != nil {
		return entry{}, err
	}
	res, err := conn.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, 0, false, "(&"+cf+idf+")", readAttrs, nil))
	if err != nil {
		return entry{}, err
	}
	if len(res.Entries) == 0 {
		return entry{}, &connectors.Error{Class: connectors.ClassNotFound, Op: "get " + string(kind), Err: fmt.Errorf("no %s with %s %s", kind, c.idAttr(), id)}
	}
	return c.toEntry(res.Entries[0])
}

func (c *Connector) resource(conn *goldap.Conn, kind connectors.Kind, e entry) (connectors.Resource, error) {
	if kind == connectors.KindUser {
		return connectors.Resource{ID: e.id, Attributes: c.userFromLDAP(e.a)}, nil
	}
	a, err := c.groupFromLDAP(conn, e)
	if err != nil {
		return connectors.Resource{}, err
	}
	return connectors.Resource{ID: e.id, Attributes: a}, nil
}

// Get returns resource id of kind.
func (c *Connector) Get(ctx context.Context, kind connectors.Kind, id string) (connectors.Resource, error) {
	var r connectors.Resource
	err := c.with(ctx, "get "+string(kind), func(conn *goldap.Conn) error {
		e, err := c.lookup(conn, kind, id)
		if err != nil {
			return err
		}
		r, err = c.resource(conn, kind, e)
		return err
	})
	return r, err
}

// findAttrs returns the LDAP attributes a SCIM path is stored in.
func (c *Connector) findAttrs(kind connectors.Kind, path string) ([]string, error) {
	p, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	attr, sub := strings.ToLower(p.Attribute()), strings.ToLower(p.SubAttribute())
	if kind == connectors.KindGroup {
		switch attr {
		case "displayname":
			return []string{"cn"}, nil
		case "members", "id", "meta", "schemas":
			return nil, invalid("attribute", "cannot find groups by %s", path)
		}
		if !validAttrName(p.Attribute()) || sub != "" {
			return nil, invalid("attribute", "no LDAP attribute for %s", path)
		}
		return []string{p.Attribute()}, nil
	}
	switch attr {
	case "username":
		return []string{c.s.userNameAttr}, nil
	case "displayname":
		return []string{"displayName"}, nil
	case "externalid":
		return []string{"employeeNumber"}, nil
	case "name":
		switch sub {
		case "givenname":
			return []string{"givenName"}, nil
		case "familyname":
			return []string{"sn"}, nil
		case "middlename":
			return []string{"initials"}, nil
		}
		return nil, invalid("attribute", "no LDAP attribute for %s", path)
	case "emails", "phonenumbers":
		table := c.s.emails
		if attr == "phonenumbers" {
			table = c.s.phones
		}
		if sub != "" && sub != "value" {
			return nil, invalid("attribute", "no LDAP attribute for %s", path)
		}
		var out []string
		want := filterType(path)
		for _, t := range table {
			if want == "" || t.typ == want {
				out = append(out, t.attr)
			}
		}
		if len(out) == 0 {
			return nil, invalid("attribute", "no LDAP attribute for %s", path)
		}
		return out, nil
	case "active", "id", "meta", "schemas", "groups":
		return nil, invalid("attribute", "cannot find users by %s", path)
	}
	if sub != "" || p.HasFilter() || !validAttrName(p.Attribute()) {
		return nil, invalid("attribute", "no LDAP attribute for %s", path)
	}
	return []string{p.Attribute()}, nil
}

// filterType returns T of a path with the filter [type eq "T"], lower-cased, else "".
func filterType(path string) string {
	_, rest, ok := strings.Cut(path, "[")
	if !ok {
		return ""
	}
	f, _, _ := strings.Cut(rest, "]")
	fields := strings.Fields(f)
	if len(fields) == 3 && strings.EqualFold(fields[0], "type") && strings.EqualFold(fields[1], "eq") {
		return strings.ToLower(strings.Trim(fields[2], `"`))
	}
	return ""
}

// maxFind bounds what Find returns: more than one match is all a correlation needs to know.
const maxFind = 10

// Find returns the resources of kind whose attribute equals value (the directory's matching
// rule decides: uid, mail and cn ignore case).
func (c *Connector) Find(ctx context.Context, kind connectors.Kind, attribute, value string) ([]connectors.Resource, error) {
	op := "find " + string(kind)
	base, cf, err := c.kindBase(kind)
	if err != nil {
		return nil, err
	}
	names, err := c.findAttrs(kind, attribute)
	if err != nil {
		return nil, err
	}
	var f strings.Builder
	f.WriteString("(&" + cf + "(|")
	for _, n := range names {
		f.WriteString("(" + n + "=" + goldap.EscapeFilter(value) + ")")
	}
	f.WriteString("))")
	out := []connectors.Resource{}
	err = c.with(ctx, op, func(conn *goldap.Conn) error {
		return c.search(conn, base, f.String(), func(e entry) (bool, error) {
			r, err := c.resource(conn, kind, e)
			if err != nil {
				return false, err
			}
			out = append(out, r)
			return len(out) < maxFind, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// search runs a paged subtree search (RFC 2696) and calls fn for each entry until it returns
// false; it then abandons the paging (a last request of size 0).
func (c *Connector) search(conn *goldap.Conn, base, filter string, fn func(entry) (bool, error)) error {
	paging := goldap.NewControlPaging(c.s.pageSize)
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		filter, readAttrs, []goldap.Control{paging})
	for {
		res, err := conn.Search(req)
		if err != nil {
			return err
		}
		for _, le := range res.Entries {
			e, err := c.toEntry(le)
			if err != nil {
				return err
			}
			more, err := fn(e)
			if err != nil {
				return err
			}
			if !more {
				return c.abandonPaging(conn, req, res)
			}
		}
		ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

func (c *Connector) abandonPaging(conn *goldap.Conn, req *goldap.SearchRequest, res *goldap.SearchResult) error {
	ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
	if ctrl == nil || len(ctrl.Cookie) == 0 {
		return nil
	}
	// RFC 2696 §3: a request with size 0 and the cookie ends the paged search.
	end := goldap.NewControlPaging(0)
	end.SetCookie(ctrl.Cookie)
	req.Controls = []goldap.Control{end}
	_, err := conn.Search(req)
	return err
}

// List calls fn for each resource of kind, reading the directory in pages.
func (c *Connector) List(ctx context.Context, kind connectors.Kind, fn func(connectors.Resource) bool) error {
	base, cf, err := c.kindBase(kind)
	if err != nil {
		return err
	}
	return c.with(ctx, "list "+string(kind), func(conn *goldap.Conn) error {
		return c.search(conn, base, cf, func(e entry) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			r, err := c.resource(conn, kind, e)
			if err != nil {
				return false, err
			}
			return fn(r), nil
		})
	})
}

// Create adds an entry for attrs below the kind's base DN.
func (c *Connector) Create(ctx context.Context, kind connectors.Kind, in map[string]any) (connectors.Resource, error) {
	op := "create " + string(kind)
	if _, _, err := c.kindBase(kind); err != nil {
		return connectors.Resource{}, err
	}
	var r connectors.Resource
	err := c.with(ctx, op, func(conn *goldap.Conn) error {
		var a *attrs
		var dn string
		var err error
		if kind == connectors.KindUser {
			if a, err = c.userToLDAP(in, nil); err != nil {
				return err
			}
			a.set("objectClass", c.s.userClasses...)
			dn = c.s.rdnAttr + "=" + goldap.EscapeDN(a.first(c.s.rdnAttr)) + "," + c.s.usersBase
			if a.first(c.s.rdnAttr) == "" {
				return invalid(c.s.rdnAttr, "the RDN attribute has no value")
			}
		} else {
			if a, err = c.groupToLDAP(conn, in); err != nil {
				return err
			}
			a.set("objectClass", c.s.groupClass)
			dn = "cn=" + goldap.EscapeDN(a.first("cn")) + "," + c.s.groupsBase
			c.placeholder(a, dn)
		}
		add := goldap.NewAddRequest(dn, nil)
		for _, k := range a.keys() {
			add.Attribute(a.names[k], a.vals[k])
		}
		if err := conn.Add(add); err != nil {
			return err
		}
		if kind == connectors.KindUser {
			// The entry is what was just written; only its ID is the directory's. Reading that
			// alone keeps a create at two round trips of small answers.
			id, err := c.idOf(conn, dn)
			if err != nil {
				return err
			}
			if id == "" {
				return &goldap.Error{ResultCode: goldap.LDAPResultNoSuchObject, Err: errors.New("entry vanished")}
			}
			a.del("objectClass")
			r = connectors.Resource{ID: id, Attributes: c.userFromLDAP(a)}
			return nil
		}
		e, err := c.readDN(conn, dn)
		if err != nil {
			return err
		}
		r, err = c.resource(conn, kind, e)
		return err
	})
	return r, err
}

// placeholder gives a groupOfNames without members the bind DN as its member: the object class
// requires one. Reads leave it out of members.
func (c *Connector) placeholder(a *attrs, groupDN string) {
	if c.s.placeholderMembers && len(a.get("member")) == 0 {
		a.set("member", c.placeholderDN(groupDN))
	}
}

func (c *Connector) placeholderDN(groupDN string) string {
	if c.s.bindDN != "" {
		return c.s.bindDN
	}
	return groupDN
}

func (c *Connector) readDN(conn *goldap.Conn, dn string) (entry, error) {
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", readAttrs, nil))
	if err != nil {
		return entry{}, err
	}
	if len(res.Entries) == 0 {
		return entry{}, &goldap.Error{ResultCode: goldap.LDAPResultNoSuchObject, Err: errors.New("entry vanished")}
	}
	return c.toEntry(res.Entries[0])
}

// Update reads the entry, applies changes to its SCIM form, and writes the difference in one
// modify request (after a modify DN when the RDN attribute changes).
func (c *Connector) Update(ctx context.Context, kind connectors.Kind, id string, changes []connectors.Change) (connectors.Resource, error) {
	op := "update " + string(kind)
	paths := make([]pathT, len(changes))
	for i, ch := range changes {
		p, err := parsePath(ch.Path)
		if err != nil {
			return connectors.Resource{}, err
		}
		paths[i] = p
	}
	var r connectors.Resource
	err := c.with(ctx, op, func(conn *goldap.Conn) error {
		e, err := c.lookup(conn, kind, id)
		if err != nil {
			return err
		}
		cur, err := c.resource(conn, kind, e)
		if err != nil {
			return err
		}
		next := cur.Attributes
		for i, ch := range changes {
			if ch.Value == nil {
				err = paths[i].Remove(next)
			} else {
				err = paths[i].Set(next, ch.Value)
			}
			if err != nil {
				return invalid("path", "%s: %v", ch.Path, err)
			}
		}
		var want *attrs
		rdnAttr := c.s.rdnAttr
		if kind == connectors.KindUser {
			want, err = c.userToLDAP(next, e.a)
		} else {
			rdnAttr = "cn"
			want, err = c.groupToLDAP(conn, next)
			if err == nil {
				c.placeholder(want, e.dn)
			}
		}
		if err != nil {
			return err
		}
		dn := e.dn
		// A new RDN value renames the entry; a change of case only is a plain modify (the
		// DN's matching ignores case, so a modify DN would clash with the entry itself).
		if newRDN := want.first(rdnAttr); newRDN != "" && !strings.EqualFold(rdnValue(e.dn, rdnAttr), newRDN) {
			rdn := rdnAttr + "=" + goldap.EscapeDN(newRDN)
			if err := conn.ModifyDN(goldap.NewModifyDNRequest(e.dn, rdn, true, "")); err != nil {
				return err
			}
			dn = rdn + "," + parentDN(e.dn)
			if kind == connectors.KindGroup && c.s.placeholderMembers && !c.s.hasBindDN() {
				// The placeholder is the group's own DN, which just changed.
				c.placeholder(want, dn)
			}
		}
		mod := goldap.NewModifyRequest(dn, nil)
		n := 0
		for _, k := range want.keys() {
			if k == strings.ToLower(rdnAttr) && dn != e.dn {
				continue // the modify DN set it
			}
			if !sameValues(want.vals[k], e.a.vals[k]) {
				mod.Replace(want.names[k], want.vals[k])
				n++
			}
		}
		for _, k := range e.a.keys() {
			if _, ok := want.vals[k]; !ok && c.managed(kind, k) {
				mod.Delete(e.a.names[k], nil)
				n++
			}
		}
		if n > 0 {
			if err := conn.Modify(mod); err != nil {
				return err
			}
		}
		ne, err := c.readDN(conn, dn)
		if err != nil {
			return err
		}
		r, err = c.resource(conn, kind, ne)
		return err
	})
	return r, err
}

func (s settings) hasBindDN() bool { return s.bindDN != "" }

// managed reports whether attribute k (lower case) of an entry of kind is one the connector
// writes, so that its absence from the wanted attributes means a removal.
func (c *Connector) managed(kind connectors.Kind, k string) bool {
	if neverRead[k] || k == "objectclass" {
		return false
	}
	if c.ad() && (k == "cn" || k == "useraccountcontrol") {
		return false
	}
	return true
}

func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// rdnValue returns the value of attribute attr in dn's first RDN ("" when it is not there).
func rdnValue(dn, attr string) string {
	d, err := goldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return ""
	}
	for _, at := range d.RDNs[0].Attributes {
		if strings.EqualFold(at.Type, attr) {
			return at.Value
		}
	}
	return ""
}

// parentDN returns dn without its first RDN, as the directory spelled it.
func parentDN(dn string) string {
	// The first unescaped, unquoted comma (or RFC 1779's semicolon) ends the RDN.
	quoted := false
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',', ';':
			if !quoted {
				return strings.TrimLeft(dn[i+1:], " ")
			}
		}
	}
	return ""
}

// Delete deletes resource id.
func (c *Connector) Delete(ctx context.Context, kind connectors.Kind, id string) error {
	return c.with(ctx, "delete "+string(kind), func(conn *goldap.Conn) error {
		e, err := c.lookup(conn, kind, id)
		if err != nil {
			return err
		}
		return conn.Del(goldap.NewDelRequest(e.dn, nil))
	})
}
