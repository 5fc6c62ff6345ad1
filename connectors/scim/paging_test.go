package scim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// TestPagingRefusesARepeatedPage: a store claiming a huge total and answering the first page
// whatever startIndex is asked (a broken or hostile server) ends the listing with a malformed
// answer (UNAVAILABLE), instead of paging for ever; Find stops at MaxFound matches.
func TestPagingRefusesARepeatedPage(t *testing.T) {
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		w.Header().Set("Content-Type", "application/scim+json")
		fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2000000000,"startIndex":1,"itemsPerPage":2,
			"Resources":[{"id":"a","userName":"x"},{"id":"b","userName":"x"}]}`)
	}))
	defer srv.Close()
	c, err := New(connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{KeyBaseURL: srv.URL, KeyPatch: "true"},
		Credentials: map[string]string{CredToken: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	err = c.List(ctx, connectors.KindUser, func(connectors.Resource) bool { n++; return true })
	if connectors.ClassOf(err) != connectors.ClassUnavailable || requests != 2 || n != 2 {
		t.Fatalf("List: err %v, %d requests, %d resources; want UNAVAILABLE after the second page", err, requests, n)
	}
	requests = 0
	found, err := c.Find(ctx, connectors.KindUser, "userName", "x")
	if err == nil || len(found) > MaxFound {
		t.Fatalf("Find: %d found, err %v", len(found), err)
	}
}
