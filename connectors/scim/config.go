package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// Configuration keys of a SCIM store (StoreConfig.Config).
const (
	KeyBaseURL  = "baseUrl"  // the SCIM root, http or https; required for SCIM, defaulted for SLACK and ZOOM
	KeyAuthType = "authType" // BEARER (default), BASIC or OAUTH2 (client credentials)
	KeyUsername = "username" // BASIC
	KeyTokenURL = "tokenUrl" // OAUTH2
	KeyClientID = "clientId" // OAUTH2
	KeyScopes   = "scopes"   // OAUTH2, separated by spaces or commas
	KeyPatch    = "patch"    // auto (default: read /ServiceProviderConfig once), true or false
	KeyTimeout  = "timeout"  // a Go duration, default 10s, at most 5m
)

// Credential keys of a SCIM store (StoreConfig.Credentials).
const (
	CredToken        = "token"        // BEARER
	CredPassword     = "password"     // BASIC
	CredClientSecret = "clientSecret" // OAUTH2
)

// Authentication types.
const (
	AuthBearer = "BEARER"
	AuthBasic  = "BASIC"
	AuthOAuth2 = "OAUTH2"
)

const (
	defaultTimeout = 10 * time.Second
	maxTimeout     = 5 * time.Minute
)

// settings is a validated configuration.
type settings struct {
	profile  profile
	base     string // without a trailing slash
	authType string
	patch    string // auto, true, false
	timeout  time.Duration
	username string
	secret   string // token, password or client secret
	oauth    *clientcredentials.Config
}

func isConfigKey(k string) bool {
	switch k {
	case KeyBaseURL, KeyAuthType, KeyUsername, KeyTokenURL, KeyClientID, KeyScopes, KeyPatch, KeyTimeout:
		return true
	}
	return false
}

func isCredentialKey(k string) bool {
	switch k {
	case CredToken, CredPassword, CredClientSecret:
		return true
	}
	return false
}

// parseSettings validates cfg and returns every problem, each naming its key. Error messages
// never hold credential values.
func parseSettings(cfg connectors.StoreConfig) (settings, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, domain.Invalidf(field, format, args...))
	}
	p, ok := profileOf(cfg.Type)
	if !ok {
		bad("type", "store type %q is not a SCIM store type", cfg.Type)
		p, _ = profileOf(domain.StoreSCIM)
	}
	for _, k := range sortedKeys(cfg.Config) {
		if !isConfigKey(k) {
			bad("config."+k, "unknown configuration key")
		}
	}
	for _, k := range sortedKeys(cfg.Credentials) {
		if !isCredentialKey(k) {
			bad("credentials."+k, "unknown credential key")
		}
	}
	s := settings{profile: p}

	s.base = strings.TrimSpace(cfg.Config[KeyBaseURL])
	if s.base == "" {
		s.base = p.defaultBaseURL
	}
	if s.base == "" {
		bad("config."+KeyBaseURL, "required")
	} else if err := checkHTTPURL(s.base); err != nil {
		bad("config."+KeyBaseURL, "%v", err)
	}
	s.base = strings.TrimRight(s.base, "/")

	s.authType = strings.ToUpper(strings.TrimSpace(cfg.Config[KeyAuthType]))
	if s.authType == "" {
		s.authType = AuthBearer
	}
	need := func(key string) string {
		v := cfg.Credentials[key]
		if strings.TrimSpace(v) == "" {
			bad("credentials."+key, "required for authType %s", s.authType)
		}
		return v
	}
	switch s.authType {
	case AuthBearer:
		s.secret = need(CredToken)
	case AuthBasic:
		s.username = cfg.Config[KeyUsername]
		if s.username == "" {
			bad("config."+KeyUsername, "required for authType BASIC")
		} else if strings.Contains(s.username, ":") {
			bad("config."+KeyUsername, "must not contain ':'")
		}
		s.secret = need(CredPassword)
	case AuthOAuth2:
		tokenURL := strings.TrimSpace(cfg.Config[KeyTokenURL])
		if tokenURL == "" {
			bad("config."+KeyTokenURL, "required for authType OAUTH2")
		} else if err := checkHTTPURL(tokenURL); err != nil {
			bad("config."+KeyTokenURL, "%v", err)
		}
		clientID := cfg.Config[KeyClientID]
		if clientID == "" {
			bad("config."+KeyClientID, "required for authType OAUTH2")
		}
		s.secret = need(CredClientSecret)
		s.oauth = &clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: s.secret,
			TokenURL:     tokenURL,
			Scopes:       strings.FieldsFunc(cfg.Config[KeyScopes], func(r rune) bool { return r == ',' || r == ' ' }),
		}
	default:
		bad("config."+KeyAuthType, "must be BEARER, BASIC or OAUTH2, not %q", cfg.Config[KeyAuthType])
	}

	s.patch = strings.ToLower(strings.TrimSpace(cfg.Config[KeyPatch]))
	switch s.patch {
	case "":
		s.patch = "auto"
	case "auto", "true", "false":
	default:
		bad("config."+KeyPatch, "must be auto, true or false, not %q", cfg.Config[KeyPatch])
	}

	s.timeout = defaultTimeout
	if v := strings.TrimSpace(cfg.Config[KeyTimeout]); v != "" {
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
		return settings{}, &connectors.Error{Class: connectors.ClassInvalid, Op: "open " + string(p.storeType) + " store",
			Err: fmt.Errorf("%w: %w", domain.ErrInvalid, domain.FieldErrors(errs...))}
	}
	return s, nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an http or https URL")
	case u.Host == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not hold credentials (use the credentials)")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not have a query or fragment")
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// httpClient returns the client that authenticates every request per s.
func (s settings) httpClient() *http.Client {
	base := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: s.timeout,
		ForceAttemptHTTP2:   true,
	}
	client := &http.Client{Timeout: s.timeout, Transport: base}
	switch s.authType {
	case AuthOAuth2:
		// The token endpoint is called through the same transport, bounded by the same timeout.
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: s.timeout, Transport: base})
		client = s.oauth.Client(ctx)
		client.Timeout = s.timeout
	case AuthBasic:
		client.Transport = &headerTransport{base: base, set: func(r *http.Request) { r.SetBasicAuth(s.username, s.secret) }}
	default:
		header := "Bearer " + s.secret
		client.Transport = &headerTransport{base: base, set: func(r *http.Request) { r.Header.Set("Authorization", header) }}
	}
	// Never follow a redirect: it could carry the Authorization header elsewhere.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return client
}

// headerTransport sets the authentication header of each request on a clone of it.
type headerTransport struct {
	base http.RoundTripper
	set  func(*http.Request)
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	h.set(r)
	return h.base.RoundTrip(r)
}
