package scim

import (
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// profile is what a SCIM store type changes in the generic client: its vendor's quirks.
type profile struct {
	storeType      domain.StoreType
	defaultBaseURL string
	features       connectors.Features
	// deleteDeactivates: Delete of a user sets active=false instead of deleting (Slack).
	deleteDeactivates bool
	// userPutOnly: user updates other than "active" go by read, modify and PUT even when the
	// store supports PATCH (Zoom's user PATCH only activates and deactivates).
	userPutOnly bool
	// userNameIsEmail: Create requires userName to be an email address and takes it from the
	// primary (or first) email when absent (Zoom).
	userNameIsEmail bool
}

// profileOf returns the profile of store type t ("" is generic SCIM).
func profileOf(t domain.StoreType) (profile, bool) {
	switch t {
	case domain.StoreSCIM, "":
		return profile{storeType: domain.StoreSCIM, features: connectors.DefaultFeatures}, true
	case domain.StoreSlack:
		// Slack's SCIM API: users are deactivated, never deleted; about 180 user writes a minute.
		return profile{
			storeType:         domain.StoreSlack,
			defaultBaseURL:    "https://api.slack.com/scim/v2",
			features:          connectors.Features{Groups: true, HardDelete: false, WritesPerMinute: 180},
			deleteDeactivates: true,
		}, true
	case domain.StoreZoom:
		// Zoom's SCIM2 API (developers.zoom.us/docs/api/scim2): users are updated by PUT (its
		// user PATCH only sets "active"), groups by PATCH of members and displayName; userName is
		// the user's email; each SCIM2 endpoint allows about 1 request a second per account.
		return profile{
			storeType:       domain.StoreZoom,
			defaultBaseURL:  "https://api.zoom.us/scim2",
			features:        connectors.Features{Groups: true, HardDelete: true, WritesPerMinute: 60},
			userPutOnly:     true,
			userNameIsEmail: true,
		}, true
	}
	return profile{}, false
}

// Factories returns the factories of the SCIM store types: SCIM, SLACK and ZOOM.
func Factories() connectors.Factories {
	open := func(cfg connectors.StoreConfig) (connectors.Connector, error) {
		c, err := New(cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return connectors.Factories{domain.StoreSCIM: open, domain.StoreSlack: open, domain.StoreZoom: open}
}
