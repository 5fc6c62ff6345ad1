package propagation

import (
	"encoding/json"
	"sort"

	"github.com/idstream/idstream/projections"
)

// SourceMap returns the source identity a rule's mappings and expressions read: the user's
// attributes under the names the directory's filters use (domain.CanonicalUserAttribute), its
// system attributes, the names of its groups (transitive, sorted) and its custom attributes by
// name. Empty attributes are left out.
func SourceMap(u *projections.User, groups []projections.Group) map[string]any {
	p := &u.Profile
	m := map[string]any{
		"id":           u.ID,
		"enabled":      u.Enabled,
		"locked":       u.Locked,
		"populationId": u.PopulationID,
	}
	put := func(dst map[string]any, k, v string) {
		if v != "" {
			dst[k] = v
		}
	}
	put(m, "username", p.Username)
	put(m, "email", p.Email)
	name := map[string]any{}
	put(name, "given", p.Name.Given)
	put(name, "family", p.Name.Family)
	put(name, "middle", p.Name.Middle)
	put(name, "formatted", p.Name.Formatted)
	put(name, "honorificPrefix", p.Name.HonorificPrefix)
	put(name, "honorificSuffix", p.Name.HonorificSuffix)
	if len(name) > 0 {
		m["name"] = name
	}
	put(m, "nickname", p.Nickname)
	put(m, "title", p.Title)
	put(m, "preferredLanguage", p.PreferredLanguage)
	put(m, "locale", p.Locale)
	put(m, "timezone", p.Timezone)
	put(m, "primaryPhone", p.PrimaryPhone)
	put(m, "mobilePhone", p.MobilePhone)
	addr := map[string]any{}
	put(addr, "streetAddress", p.Address.StreetAddress)
	put(addr, "locality", p.Address.Locality)
	put(addr, "region", p.Address.Region)
	put(addr, "postalCode", p.Address.PostalCode)
	put(addr, "countryCode", p.Address.CountryCode)
	if len(addr) > 0 {
		m["address"] = addr
	}
	put(m, "externalId", p.ExternalID)
	put(m, "accountId", p.AccountID)
	put(m, "type", p.Type)
	put(m, "photo", p.Photo)
	names := make([]any, 0, len(groups))
	sorted := make([]string, 0, len(groups))
	for _, g := range groups {
		sorted = append(sorted, g.Name)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		names = append(names, n)
	}
	m["groups"] = names
	for _, c := range u.Custom {
		if _, taken := m[c.Name]; taken {
			continue // a reserved name never shadows a core attribute
		}
		var v any
		if err := json.Unmarshal(c.Value, &v); err == nil && v != nil {
			m[c.Name] = v
		}
	}
	return m
}
