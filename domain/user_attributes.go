package domain

import "strings"

// Core attribute paths, as the API names them. SCIM filters (dynamic groups, users(filter))
// address these, their SCIM aliases (CanonicalUserAttribute), the system attributes below, and
// custom attributes by name.
var coreAttributePaths = []string{
	"username", "email",
	"name.formatted", "name.given", "name.middle", "name.family", "name.honorificPrefix", "name.honorificSuffix",
	"nickname", "title", "preferredLanguage", "locale", "timezone", "primaryPhone", "mobilePhone",
	"address.streetAddress", "address.locality", "address.region", "address.postalCode", "address.countryCode",
	"externalId", "accountId", "type", "photo",
}

// System attributes are kept by idstream, not written as profile fields: id, populationId,
// enabled (BOOLEAN), locked (BOOLEAN).
var systemAttributePaths = []string{"id", "populationId", "enabled", "locked"}

// scimAliases maps lower-cased SCIM core-schema names onto ours.
var scimAliases = map[string]string{
	"username": "username", "emails": "email", "emails.value": "email",
	"name.givenname": "name.given", "name.familyname": "name.family", "name.middlename": "name.middle",
	"displayname": "name.formatted", "preferredlanguage": "preferredLanguage", "usertype": "type",
	"phonenumbers": "primaryPhone", "phonenumbers.value": "primaryPhone", "photos": "photo", "photos.value": "photo",
	"addresses.streetaddress": "address.streetAddress", "addresses.locality": "address.locality",
	"addresses.region": "address.region", "addresses.postalcode": "address.postalCode", "addresses.country": "address.countryCode",
	"active": "enabled",
}

var canonicalByLower = func() map[string]string {
	m := map[string]string{}
	for _, p := range coreAttributePaths {
		m[strings.ToLower(p)] = p
	}
	for _, p := range systemAttributePaths {
		m[strings.ToLower(p)] = p
	}
	for alias, p := range scimAliases {
		m[alias] = p
	}
	return m
}()

// CoreAttributePaths lists the core profile attribute paths (a fresh slice).
func CoreAttributePaths() []string { return append([]string(nil), coreAttributePaths...) }

// CanonicalUserAttribute maps a path written in a filter (any case, SCIM aliases, an optional
// "urn:...:User:" schema prefix) to its canonical core or system path. ok is false for anything
// else, which may still be a custom attribute's name.
func CanonicalUserAttribute(path string) (canonical string, ok bool) {
	if i := strings.LastIndex(path, ":"); i >= 0 {
		path = path[i+1:]
	}
	canonical, ok = canonicalByLower[strings.ToLower(path)]
	return canonical, ok
}

// IsReservedAttributeName reports whether a custom attribute may not take name: it would shadow
// a core or system attribute (or one of their first path segments, such as "name" or "address").
func IsReservedAttributeName(name string) bool {
	lower := strings.ToLower(name)
	if _, ok := canonicalByLower[lower]; ok {
		return true
	}
	for _, p := range coreAttributePaths {
		if first, _, found := strings.Cut(p, "."); found && strings.ToLower(first) == lower {
			return true
		}
	}
	return lower == "custom" || lower == "password" || lower == "schemas" || lower == "meta"
}

// CoreValue returns the value of a canonical core path of a profile ("" when unset or unknown).
func (p *Profile) CoreValue(canonical string) string {
	switch canonical {
	case "username":
		return p.Username
	case "email":
		return p.Email
	case "name.formatted":
		return p.Name.Formatted
	case "name.given":
		return p.Name.Given
	case "name.middle":
		return p.Name.Middle
	case "name.family":
		return p.Name.Family
	case "name.honorificPrefix":
		return p.Name.HonorificPrefix
	case "name.honorificSuffix":
		return p.Name.HonorificSuffix
	case "nickname":
		return p.Nickname
	case "title":
		return p.Title
	case "preferredLanguage":
		return p.PreferredLanguage
	case "locale":
		return p.Locale
	case "timezone":
		return p.Timezone
	case "primaryPhone":
		return p.PrimaryPhone
	case "mobilePhone":
		return p.MobilePhone
	case "address.streetAddress":
		return p.Address.StreetAddress
	case "address.locality":
		return p.Address.Locality
	case "address.region":
		return p.Address.Region
	case "address.postalCode":
		return p.Address.PostalCode
	case "address.countryCode":
		return p.Address.CountryCode
	case "externalId":
		return p.ExternalID
	case "accountId":
		return p.AccountID
	case "type":
		return p.Type
	case "photo":
		return p.Photo
	}
	return ""
}
