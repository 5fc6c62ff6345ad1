package scim_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/connectortest"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/connectors/scim/scimtest"
	"github.com/idstream/idstream/domain"
)

func wantClass(t *testing.T, err error, want connectors.Class) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connectors.Error (want %s)", err, want)
	}
	if ce.Class != want {
		t.Fatalf("class %s, want %s: %v", ce.Class, want, err)
	}
	return ce
}

func TestFaultClassification(t *testing.T) {
	srv := scimtest.Start(t)
	c := open(t, bearer(domain.StoreSCIM, srv, srv.Token, nil)).(*scim.Connector)
	u, err := c.Create(t.Context(), connectors.KindUser, connectortest.User("fault@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		status     int
		retryAfter string
		class      connectors.Class
		min, max   time.Duration
	}{
		{429, "3", connectors.ClassRateLimited, 3 * time.Second, 3 * time.Second},
		{429, date, connectors.ClassRateLimited, 30 * time.Second, 91 * time.Second},
		{429, "", connectors.ClassRateLimited, 0, 0},
		{503, "10", connectors.ClassUnavailable, 10 * time.Second, 10 * time.Second},
		{500, "", connectors.ClassUnavailable, 0, 0},
		{502, "", connectors.ClassUnavailable, 0, 0},
		{401, "", connectors.ClassAuth, 0, 0},
		{403, "", connectors.ClassAuth, 0, 0},
		{404, "", connectors.ClassNotFound, 0, 0},
		{409, "", connectors.ClassConflict, 0, 0},
		{400, "", connectors.ClassInvalid, 0, 0},
	} {
		srv.Fault(tc.status, 1, tc.retryAfter)
		_, err := c.Get(t.Context(), connectors.KindUser, u.ID)
		ce := wantClass(t, err, tc.class)
		if ce.Status != tc.status {
			t.Errorf("%d: status %d", tc.status, ce.Status)
		}
		if d := connectors.RetryAfterOf(err); d < tc.min || d > tc.max {
			t.Errorf("%d Retry-After %q: %v, want in [%v, %v]", tc.status, tc.retryAfter, d, tc.min, tc.max)
		}
		if !strings.Contains(err.Error(), "injected fault") {
			t.Errorf("%d: the store's detail is not quoted: %v", tc.status, err)
		}
		if strings.Contains(err.Error(), srv.Token) {
			t.Fatalf("error holds the token: %v", err)
		}
		// The fault was for one request only, and the connector did not retry it.
		if _, err := c.Get(t.Context(), connectors.KindUser, u.ID); err != nil {
			t.Fatalf("after a %d fault: %v", tc.status, err)
		}
	}
	// Writes are classified the same way, and not retried: the store served none.
	before := srv.Writes()
	srv.Fault(503, 1, "")
	_, err = c.Create(t.Context(), connectors.KindUser, connectortest.User("never@example.com"))
	wantClass(t, err, connectors.ClassUnavailable)
	if !connectors.Transient(err) {
		t.Fatal("503 not transient")
	}
	if got := srv.Writes(); got != before {
		t.Fatalf("writes %d after a refused create, want %d", got, before)
	}
	srv.Fault(429, 1, "1")
	_, err = c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "displayName", Value: "x"}})
	wantClass(t, err, connectors.ClassRateLimited)
}

func TestOutage(t *testing.T) {
	srv := scimtest.Start(t)
	c := open(t, bearer(domain.StoreSCIM, srv, srv.Token, nil))
	if err := c.(connectors.Checker).Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	err := c.(connectors.Checker).Check(t.Context())
	wantClass(t, err, connectors.ClassUnavailable)
	_, err = c.Create(t.Context(), connectors.KindUser, connectortest.User("down@example.com"))
	wantClass(t, err, connectors.ClassUnavailable)
	if strings.Contains(err.Error(), srv.Token) {
		t.Fatalf("error holds the token: %v", err)
	}
	srv.Start() // same port: the same connector reaches it again
	if _, err := c.Create(t.Context(), connectors.KindUser, connectortest.User("up@example.com")); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	c := open(t, connectors.StoreConfig{Type: domain.StoreSCIM,
		Config:      map[string]string{scim.KeyBaseURL: hang.URL, scim.KeyTimeout: "50ms"},
		Credentials: map[string]string{scim.CredToken: secret}})
	_, err := c.Get(t.Context(), connectors.KindUser, "x")
	wantClass(t, err, connectors.ClassUnavailable)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error holds the token: %v", err)
	}
}

func TestOAuth2BadTokenEndpoint(t *testing.T) {
	srv := scimtest.Start(t, scimtest.WithToken("tok"))
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	for _, tc := range []struct {
		tokenURL string
		class    connectors.Class
	}{
		{tokenServer(t, "idstream", "right", "tok").URL, connectors.ClassAuth}, // the client secret is wrong
		{down.URL, connectors.ClassUnavailable},
	} {
		c := open(t, connectors.StoreConfig{Type: domain.StoreSCIM,
			Config: map[string]string{scim.KeyBaseURL: srv.URL, scim.KeyAuthType: "OAUTH2",
				scim.KeyTokenURL: tc.tokenURL, scim.KeyClientID: "idstream"},
			Credentials: map[string]string{scim.CredClientSecret: secret}})
		err := c.(connectors.Checker).Check(t.Context())
		wantClass(t, err, tc.class)
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error holds the client secret: %v", err)
		}
	}
}

func TestSlackDeleteDeactivates(t *testing.T) {
	srv := scimtest.Start(t)
	c := open(t, bearer(domain.StoreSlack, srv, srv.Token, nil))
	u, err := c.Create(t.Context(), connectors.KindUser, connectortest.User("slack@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), connectors.KindUser, u.ID); err != nil {
		t.Fatal(err)
	}
	g, err := c.Get(t.Context(), connectors.KindUser, u.ID)
	if err != nil {
		t.Fatalf("get after a Slack delete: %v", err)
	}
	if g.Attributes["active"] != false {
		t.Fatalf("active = %v after delete", g.Attributes["active"])
	}
}

func TestZoomUpdatesUsersByPut(t *testing.T) {
	// The server refuses PATCH; the Zoom profile, told PATCH works, still updates users by PUT.
	srv := scimtest.Start(t, scimtest.WithoutPatch())
	c := open(t, bearer(domain.StoreZoom, srv, srv.Token, map[string]string{scim.KeyPatch: "true"}))
	attrs := connectortest.User("zoom@example.com")
	delete(attrs, "userName")
	u, err := c.Create(t.Context(), connectors.KindUser, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if u.Attributes["userName"] != "zoom@example.com" {
		t.Fatalf("userName %v, want the primary email", u.Attributes["userName"])
	}
	r, err := c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "name.givenName", Value: "Zed"}})
	if err != nil {
		t.Fatalf("update by PUT: %v", err)
	}
	if r.Attributes["name"].(map[string]any)["givenName"] != "Zed" {
		t.Fatalf("got %v", r.Attributes)
	}
	before := srv.Writes()
	attrs = connectortest.User("not-an-email")
	_, err = c.Create(t.Context(), connectors.KindUser, attrs)
	wantClass(t, err, connectors.ClassInvalid)
	if srv.Writes() != before {
		t.Fatal("an invalid Zoom user reached the store")
	}
}

func TestPatchAutoReadsServiceProviderConfigOnce(t *testing.T) {
	srv := scimtest.Start(t)
	c := open(t, bearer(domain.StoreSCIM, srv, srv.Token, nil))
	u, err := c.Create(t.Context(), connectors.KindUser, connectortest.User("auto@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	// The first update reads /ServiceProviderConfig: a fault there fails the update, classified.
	srv.Fault(503, 1, "")
	_, err = c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "title", Value: "a"}})
	wantClass(t, err, connectors.ClassUnavailable)
	if _, err := c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "title", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	// Now it is known: a single fault hits the PATCH itself, and the next update needs one request.
	srv.Fault(500, 1, "")
	_, err = c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "title", Value: "c"}})
	wantClass(t, err, connectors.ClassUnavailable)
	r, err := c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "title", Value: "d"}})
	if err != nil || r.Attributes["title"] != "d" {
		t.Fatalf("update: %v %v", err, r.Attributes["title"])
	}
}

func TestMalformedAnswerIsUnavailable(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html>a proxy's sign-in page</html>"))
	}))
	t.Cleanup(page.Close)
	c := open(t, connectors.StoreConfig{Type: domain.StoreSCIM,
		Config: map[string]string{scim.KeyBaseURL: page.URL}, Credentials: map[string]string{scim.CredToken: secret}})
	_, err := c.Get(t.Context(), connectors.KindUser, "x")
	wantClass(t, err, connectors.ClassUnavailable)
	_, err = c.Find(t.Context(), connectors.KindUser, "userName", "x")
	wantClass(t, err, connectors.ClassUnavailable)
	err = c.(connectors.Checker).Check(t.Context())
	wantClass(t, err, connectors.ClassUnavailable)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error holds the token: %v", err)
	}
}
