package scimtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestServerHooks(t *testing.T) {
	s := Start(t)
	if !strings.HasSuffix(s.URL, "/scim/v2") || s.Token == "" {
		t.Fatalf("URL %q, token %q", s.URL, s.Token)
	}
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/Users", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(s.Token); got != 200 {
		t.Fatalf("GET /Users: %d", got)
	}
	if got := get("wrong"); got != 401 {
		t.Fatalf("GET /Users with a wrong token: %d", got)
	}
	s.Fault(503, 2, "")
	if a, b, c := get(s.Token), get(s.Token), get(s.Token); a != 503 || b != 503 || c != 200 {
		t.Fatalf("fault of 2: %d %d %d", a, b, c)
	}
	rate, err := MeasureWriteRate(t.Context(), s.URL, s.Token, 20, 4)
	if err != nil || rate <= 0 {
		t.Fatalf("measure: %v %v", rate, err)
	}
	if got := s.Writes(); got != 20 {
		t.Fatalf("writes %d, want 20", got)
	}
	url := s.URL
	s.Stop()
	if _, err := http.Get(url + "/Users"); err == nil {
		t.Fatal("the stopped server answers")
	}
	s.Start()
	if s.URL != url {
		t.Fatalf("restarted at %s, was %s", s.URL, url)
	}
	if got, w := get(s.Token), s.Writes(); got != 200 || w != 0 {
		t.Fatalf("after restart: %d, %d writes", got, w)
	}
	if _, err := MeasureWriteRate(t.Context(), s.URL, "wrong", 5, 1); err == nil {
		t.Fatal("measure with a wrong token: no error")
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of ending the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Skipf(f string, a ...any)  { r.skipped = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *recorder) Fatalf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *recorder) Helper()                   {}

func TestMissingNodeSkipsOrFailsUnderCI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r)
		}()
		<-done
		switch {
		case ci == "true" && (r.failed == "" || r.skipped != ""):
			t.Errorf("CI=true: failed %q, skipped %q; want a failure", r.failed, r.skipped)
		case ci == "" && (r.skipped == "" || r.failed != ""):
			t.Errorf("CI unset: failed %q, skipped %q; want a skip", r.failed, r.skipped)
		}
		if msg := r.failed + r.skipped; !strings.Contains(msg, "node") {
			t.Errorf("the reason does not name node: %q", msg)
		}
	}
}

// TestPersistence: with WithPersistence a stopped and restarted server (same port) still has the
// users and groups it had, and its userName index (a second create of the same userName is a 409).
func TestPersistence(t *testing.T) {
	s := Start(t, WithPersistence())
	if _, err := MeasureWriteRate(t.Context(), s.URL, s.Token, 3, 1); err != nil {
		t.Fatal(err)
	}
	list := func() (users []string) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/Users", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct{ Resources []struct{ UserName string } }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Resources {
			users = append(users, u.UserName)
		}
		return users
	}
	before := list()
	if len(before) != 3 {
		t.Fatalf("users before the restart: %v", before)
	}
	url := s.URL
	s.Stop()
	s.Start()
	if s.URL != url {
		t.Fatalf("restarted at %s, was %s", s.URL, url)
	}
	if after := list(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("users after the restart %v, want %v", after, before)
	}
	body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": strings.ToUpper(before[0])})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/Users", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("create of a kept userName after the restart: status %d, want 409", resp.StatusCode)
	}
}
