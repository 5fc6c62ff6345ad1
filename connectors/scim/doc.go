// Package scim is the connector of SCIM 2.0 service providers (RFC 7643, RFC 7644): Users and
// Groups, read by GET (Find with a filter `attr eq "value"`, List in pages of startIndex/count),
// written by POST, PATCH (or, where the store has none, GET then PUT) and DELETE.
//
// New opens a connector from a connectors.StoreConfig; Factories maps the store types SCIM,
// SLACK and ZOOM to it. Configuration keys: baseUrl (http or https; Slack and Zoom have
// defaults), authType BEARER (credential token), BASIC (username, credential password) or
// OAUTH2 (client credentials: tokenUrl, clientId, scopes, credential clientSecret), patch
// auto|true|false (auto reads /ServiceProviderConfig once) and timeout (default 10s). Unknown
// keys are refused, so that a misspelt key is not silently ignored.
//
// Profiles: SLACK deactivates users instead of deleting them and is bounded to 180 writes a
// minute; ZOOM updates users by PUT (its PATCH only activates and deactivates), requires
// userName to be an email (taken from the primary email when absent) and is bounded to 60
// writes a minute.
//
// The connector never retries; its errors are *connectors.Error with a class. It is tested
// with the conformance suite connectortest against a real third-party SCIM server (scimmy, see
// scimtest) with PATCH, without PATCH, with bearer, basic and OAuth2 authentication, and with
// the Slack and Zoom profiles.
package scim
