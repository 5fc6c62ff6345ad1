package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// Configuration keys of an LDAP store (StoreConfig.Config; a rule's TargetConfig overrides them).
const (
	KeyURL                = "url"                // ldap://host[:port] or ldaps://host[:port]; required
	KeyStartTLS           = "startTLS"           // true|false (default false); only with ldap://
	KeyCACert             = "caCert"             // PEM certificates to trust instead of the system's
	KeyInsecureSkipVerify = "insecureSkipVerify" // true|false (default false): for tests only
	KeyBindDN             = "bindDN"             // the DN to bind as; empty: anonymous
	KeyFlavor             = "flavor"             // openldap (default) | ad
	KeyUsersBaseDN        = "usersBaseDN"        // where users are created and searched; required
	KeyGroupsBaseDN       = "groupsBaseDN"       // where groups are; default usersBaseDN
	KeyUserRDNAttribute   = "userRDNAttribute"   // default uid (AD: cn)
	KeyUserObjectClasses  = "userObjectClasses"  // comma separated; default inetOrgPerson (AD: top,person,organizationalPerson,user)
	KeyGroupObjectClass   = "groupObjectClass"   // default groupOfNames (AD: group)
	KeyPageSize           = "pageSize"           // RFC 2696 page size of List and Find, default 500
	KeyTimeout            = "timeout"            // a Go duration per operation, default 10s, at most 5m
	KeyPoolSize           = "poolSize"           // connections kept open, default 8, at most 64
	KeyDisabledAttribute  = "disabledAttribute"  // OpenLDAP: the attribute marking a disabled user, default employeeType
	KeyDisabledValue      = "disabledValue"      // OpenLDAP: its value for a disabled user, default disabled
	KeyEmailAttributes    = "emailAttributes"    // type=attribute pairs, default work=mail
	KeyPhoneAttributes    = "phoneAttributes"    // type=attribute pairs, default work=telephoneNumber,home=homePhone,mobile=mobile,fax=facsimileTelephoneNumber,pager=pager
)

// CredPassword is the bind password (StoreConfig.Credentials).
const CredPassword = "password"

// Flavors.
const (
	FlavorOpenLDAP = "openldap"
	FlavorAD       = "ad"
)

const (
	defaultTimeout  = 10 * time.Second
	maxTimeout      = 5 * time.Minute
	defaultPageSize = 500
	maxPageSize     = 100000
	defaultPool     = 8
	maxPool         = 64
)

// typedAttr maps a SCIM type ("work") of a multi-valued attribute to an LDAP attribute.
type typedAttr struct {
	typ, attr string
}

// settings is a validated configuration.
type settings struct {
	url                *url.URL
	startTLS           bool
	tls                *tls.Config // nil for plain ldap:// without StartTLS
	bindDN, password   string
	flavor             string
	usersBase          string
	groupsBase         string
	rdnAttr            string
	userClasses        []string
	groupClass         string
	pageSize           uint32
	timeout            time.Duration
	poolSize           int
	disabledAttr       string
	disabledValue      string
	emails, phones     []typedAttr
	userNameAttr       string // uid, or sAMAccountName on AD
	placeholderMembers bool   // groupOfNames needs a member: empty groups hold the bind DN
}

func isConfigKey(k string) bool {
	switch k {
	case KeyURL, KeyStartTLS, KeyCACert, KeyInsecureSkipVerify, KeyBindDN, KeyFlavor, KeyUsersBaseDN,
		KeyGroupsBaseDN, KeyUserRDNAttribute, KeyUserObjectClasses, KeyGroupObjectClass, KeyPageSize,
		KeyTimeout, KeyPoolSize, KeyDisabledAttribute, KeyDisabledValue, KeyEmailAttributes, KeyPhoneAttributes:
		return true
	}
	return false
}

// parseSettings validates cfg and returns every problem, each naming its key. Error messages
// never hold the password.
func parseSettings(cfg connectors.StoreConfig) (settings, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, domain.Invalidf(field, format, args...))
	}
	if cfg.Type != domain.StoreLDAP && cfg.Type != "" {
		bad("type", "store type %q is not LDAP", cfg.Type)
	}
	for _, k := range sortedKeys(cfg.Config) {
		if !isConfigKey(k) {
			bad("config."+k, "unknown configuration key")
		}
	}
	for _, k := range sortedKeys(cfg.Credentials) {
		if k != CredPassword {
			bad("credentials."+k, "unknown credential key")
		}
	}
	get := func(k string) string { return strings.TrimSpace(cfg.Config[k]) }
	boolean := func(k string) bool {
		switch strings.ToLower(get(k)) {
		case "", "false":
			return false
		case "true":
			return true
		}
		bad("config."+k, "must be true or false, not %q", cfg.Config[k])
		return false
	}
	var s settings

	s.flavor = strings.ToLower(get(KeyFlavor))
	switch s.flavor {
	case "":
		s.flavor = FlavorOpenLDAP
	case FlavorOpenLDAP, FlavorAD:
	default:
		bad("config."+KeyFlavor, "must be openldap or ad, not %q", cfg.Config[KeyFlavor])
	}
	ad := s.flavor == FlavorAD

	raw := get(KeyURL)
	if raw == "" {
		bad("config."+KeyURL, "required")
	} else if u, err := checkLDAPURL(raw); err != nil {
		bad("config."+KeyURL, "%v", err)
	} else {
		s.url = u
	}
	s.startTLS = boolean(KeyStartTLS)
	if s.startTLS && s.url != nil && s.url.Scheme == "ldaps" {
		bad("config."+KeyStartTLS, "must not be true with an ldaps:// url (it is TLS already)")
	}
	insecure := boolean(KeyInsecureSkipVerify)
	if s.url != nil && (s.url.Scheme == "ldaps" || s.startTLS) {
		s.tls = &tls.Config{ServerName: s.url.Hostname(), MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // asked for by configuration
		if pemText := cfg.Config[KeyCACert]; strings.TrimSpace(pemText) != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(pemText)) {
				bad("config."+KeyCACert, "holds no PEM certificate")
			}
			s.tls.RootCAs = pool
		}
	} else if get(KeyCACert) != "" {
		bad("config."+KeyCACert, "needs an ldaps:// url or startTLS=true")
	}

	s.bindDN = get(KeyBindDN)
	if s.bindDN != "" {
		if _, err := goldap.ParseDN(s.bindDN); err != nil {
			bad("config."+KeyBindDN, "not a DN: %v", err)
		}
	}
	s.password = cfg.Credentials[CredPassword]
	if s.bindDN != "" && s.password == "" {
		bad("credentials."+CredPassword, "required with a bindDN")
	}

	dn := func(k, fallback string) string {
		v := get(k)
		if v == "" {
			v = fallback
		}
		if v == "" {
			bad("config."+k, "required")
			return ""
		}
		if _, err := goldap.ParseDN(v); err != nil {
			bad("config."+k, "not a DN: %v", err)
		}
		return v
	}
	s.usersBase = dn(KeyUsersBaseDN, "")
	s.groupsBase = dn(KeyGroupsBaseDN, s.usersBase)

	attrName := func(k, fallback string) string {
		v := get(k)
		if v == "" {
			return fallback
		}
		if !validAttrName(v) {
			bad("config."+k, "not an attribute name: %q", v)
		}
		return v
	}
	if ad {
		s.rdnAttr = attrName(KeyUserRDNAttribute, "cn")
		s.groupClass = attrName(KeyGroupObjectClass, "group")
		s.userNameAttr = "sAMAccountName"
	} else {
		s.rdnAttr = attrName(KeyUserRDNAttribute, "uid")
		s.groupClass = attrName(KeyGroupObjectClass, "groupOfNames")
		s.userNameAttr = "uid"
	}
	s.placeholderMembers = strings.EqualFold(s.groupClass, "groupOfNames")
	if classes := get(KeyUserObjectClasses); classes != "" {
		for _, c := range strings.Split(classes, ",") {
			c = strings.TrimSpace(c)
			if !validAttrName(c) {
				bad("config."+KeyUserObjectClasses, "not an object class name: %q", c)
				continue
			}
			s.userClasses = append(s.userClasses, c)
		}
	} else if ad {
		s.userClasses = []string{"top", "person", "organizationalPerson", "user"}
	} else {
		s.userClasses = []string{"inetOrgPerson"}
	}
	s.disabledAttr = attrName(KeyDisabledAttribute, "employeeType")
	s.disabledValue = get(KeyDisabledValue)
	if s.disabledValue == "" {
		s.disabledValue = "disabled"
	}
	if ad && (get(KeyDisabledAttribute) != "" || get(KeyDisabledValue) != "") {
		bad("config."+KeyDisabledAttribute, "not used with flavor ad (userAccountControl's ACCOUNTDISABLE bit says it)")
	}
	s.emails = typedAttrs(KeyEmailAttributes, get(KeyEmailAttributes), "work=mail", bad)
	s.phones = typedAttrs(KeyPhoneAttributes, get(KeyPhoneAttributes),
		"work=telephoneNumber,home=homePhone,mobile=mobile,fax=facsimileTelephoneNumber,pager=pager", bad)

	s.pageSize = defaultPageSize
	if v := get(KeyPageSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			bad("config."+KeyPageSize, "must be a whole number from 1 to %d, not %q", maxPageSize, v)
		} else {
			s.pageSize = uint32(n)
		}
	}
	s.poolSize = defaultPool
	if v := get(KeyPoolSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPool {
			bad("config."+KeyPoolSize, "must be a whole number from 1 to %d, not %q", maxPool, v)
		} else {
			s.poolSize = n
		}
	}
	s.timeout = defaultTimeout
	if v := get(KeyTimeout); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad("config."+KeyTimeout, "not a duration such as 10s: %q", v)
		case d <= 0 || d > maxTimeout:
			bad("config."+KeyTimeout, "must be above 0 and at most %s", maxTimeout)
		default:
			s.timeout = d
		}
	}
	if len(errs) > 0 {
		return settings{}, &connectors.Error{Class: connectors.ClassInvalid, Op: "open LDAP store",
			Err: fmt.Errorf("%w: %w", domain.ErrInvalid, domain.FieldErrors(errs...))}
	}
	return s, nil
}

func typedAttrs(key, v, fallback string, bad func(field, format string, args ...any)) []typedAttr {
	if v == "" {
		v = fallback
	}
	var out []typedAttr
	seen := map[string]bool{}
	for _, pair := range strings.Split(v, ",") {
		typ, attr, ok := strings.Cut(strings.TrimSpace(pair), "=")
		typ, attr = strings.ToLower(strings.TrimSpace(typ)), strings.TrimSpace(attr)
		if !ok || typ == "" || !validAttrName(attr) {
			bad("config."+key, "must be type=attribute pairs separated by commas, not %q", pair)
			continue
		}
		if seen[typ] {
			bad("config."+key, "type %q twice", typ)
			continue
		}
		seen[typ] = true
		out = append(out, typedAttr{typ: typ, attr: attr})
	}
	return out
}

// validAttrName reports whether s is an LDAP attribute description's name (RFC 4512 keystring:
// a letter, then letters, digits and hyphens) or a numeric OID.
func validAttrName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		for _, part := range strings.Split(s, ".") {
			if part == "" {
				return false
			}
			for _, r := range part {
				if r < '0' || r > '9' {
					return false
				}
			}
		}
		return true
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-'):
		default:
			return false
		}
	}
	return true
}

func checkLDAPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return nil, errors.New("must be an ldap:// or ldaps:// URL")
	case u.Host == "":
		return nil, errors.New("has no host")
	case u.User != nil:
		return nil, errors.New("must not hold credentials (use bindDN and the password credential)")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("must be only scheme, host and port (the base DNs are their own keys)")
	}
	return u, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
