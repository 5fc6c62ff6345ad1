package scim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/connectortest"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/connectors/scim/scimtest"
	"github.com/idstream/idstream/domain"
)

// PageSize is the connector's List page size, for the suite to cross a page.
const pageSize = 100

func open(t *testing.T, cfg connectors.StoreConfig) connectors.Connector {
	t.Helper()
	c, err := scim.New(cfg)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return c
}

func bearer(typ domain.StoreType, srv *scimtest.Server, token string, extra map[string]string) connectors.StoreConfig {
	cfg := map[string]string{scim.KeyBaseURL: srv.URL}
	for k, v := range extra {
		cfg[k] = v
	}
	return connectors.StoreConfig{StoreID: "s1", Type: typ, Config: cfg, Credentials: map[string]string{scim.CredToken: token}}
}

func harness(srv *scimtest.Server, good, bad func() connectors.StoreConfig, f connectortest.Features) connectortest.Harness {
	return connectortest.Harness{
		Open: func(t *testing.T) connectors.Connector {
			srv.Reset()
			return open(t, good())
		},
		OpenWithBadCredentials: func(t *testing.T) connectors.Connector { return open(t, bad()) },
		Features:               f,
	}
}

var generic = connectortest.Features{Groups: true, HardDelete: true, ListPageSize: pageSize}

func TestConformanceBearerPatch(t *testing.T) {
	srv := scimtest.Start(t)
	connectortest.Run(t, harness(srv,
		func() connectors.StoreConfig { return bearer(domain.StoreSCIM, srv, srv.Token, nil) },
		func() connectors.StoreConfig { return bearer(domain.StoreSCIM, srv, "wrong", nil) },
		generic))
}

func TestConformanceBearerPut(t *testing.T) {
	srv := scimtest.Start(t, scimtest.WithoutPatch())
	connectortest.Run(t, harness(srv,
		func() connectors.StoreConfig { return bearer(domain.StoreSCIM, srv, srv.Token, nil) },
		func() connectors.StoreConfig { return bearer(domain.StoreSCIM, srv, "wrong", nil) },
		generic))
}

func TestConformanceBasic(t *testing.T) {
	srv := scimtest.Start(t, scimtest.WithBasic("scim-client", "s3cret pass"))
	basic := func(pass string) connectors.StoreConfig {
		return connectors.StoreConfig{Type: domain.StoreSCIM,
			Config:      map[string]string{scim.KeyBaseURL: srv.URL, scim.KeyAuthType: "BASIC", scim.KeyUsername: "scim-client", scim.KeyPatch: "true"},
			Credentials: map[string]string{scim.CredPassword: pass}}
	}
	connectortest.Run(t, harness(srv,
		func() connectors.StoreConfig { return basic("s3cret pass") },
		func() connectors.StoreConfig { return basic("wrong") },
		generic))
}

// tokenServer is an OAuth 2.0 token endpoint (client credentials grant) that issues token to
// clientID authenticated with secret.
func tokenServer(t *testing.T, clientID, secret, token string) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		w.Header().Set("Content-Type", "application/json")
		if id != clientID || sec != secret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestConformanceOAuth2(t *testing.T) {
	const token = "issued-by-the-token-endpoint"
	srv := scimtest.Start(t, scimtest.WithToken(token))
	ts := tokenServer(t, "idstream", "client-secret", token)
	oauth := func(secret string) connectors.StoreConfig {
		return connectors.StoreConfig{Type: domain.StoreSCIM,
			Config: map[string]string{scim.KeyBaseURL: srv.URL, scim.KeyAuthType: "OAUTH2",
				scim.KeyTokenURL: ts.URL + "/token", scim.KeyClientID: "idstream", scim.KeyScopes: "scim.write scim.read"},
			Credentials: map[string]string{scim.CredClientSecret: secret}}
	}
	connectortest.Run(t, harness(srv,
		func() connectors.StoreConfig { return oauth("client-secret") },
		func() connectors.StoreConfig { return oauth("wrong") },
		generic))
}

// The Slack and Zoom profiles run the suite against the same third-party server, with their
// quirks: Slack deactivates on delete, Zoom updates users by PUT.
func TestConformanceSlackProfile(t *testing.T) {
	srv := scimtest.Start(t)
	connectortest.Run(t, harness(srv,
		func() connectors.StoreConfig { return bearer(domain.StoreSlack, srv, srv.Token, nil) },
		func() connectors.StoreConfig { return bearer(domain.StoreSlack, srv, "wrong", nil) },
		connectortest.Features{Groups: true, HardDelete: false, ListPageSize: pageSize}))
}

func TestConformanceZoomProfile(t *testing.T) {
	srv := scimtest.Start(t)
	connectortest.Run(t, harness(srv,
		func() connectors.StoreConfig { return bearer(domain.StoreZoom, srv, srv.Token, nil) },
		func() connectors.StoreConfig { return bearer(domain.StoreZoom, srv, "wrong", nil) },
		generic))
}
