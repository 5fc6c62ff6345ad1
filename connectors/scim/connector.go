package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
)

// SCIM schema and message URNs (RFC 7643, RFC 7644).
const (
	SchemaUser   = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup  = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaPatch  = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	contentType  = "application/scim+json"
	pageSize     = 100
	maxBody      = 16 << 20 // bytes of a response read at most
	maxErrorBody = 64 << 10 // bytes of an error response read at most
)

// Connector is a connection to a SCIM 2.0 service provider (RFC 7643/7644): a generic one, or
// Slack's or Zoom's with their quirks (see Factories). It is safe for concurrent use and never
// retries: every error is a *connectors.Error with its class (401/403 AUTH, 404 NOT_FOUND, 409
// and uniqueness CONFLICT, 400 and 501 INVALID, 429 RATE_LIMITED with Retry-After, 5xx,
// timeouts, refused connections and malformed 2xx answers UNAVAILABLE). Error messages quote the store's SCIM error
// detail, truncated, never a request's credentials or body.
type Connector struct {
	s      settings
	client *http.Client
	now    func() time.Time

	mu         sync.Mutex
	patchKnown bool // patchOK holds what /ServiceProviderConfig said (patch=auto)
	patchOK    bool

	pathsMu sync.RWMutex
	paths   map[string]mapping.Path // parsed change paths, see path
}

var (
	_ connectors.Connector     = (*Connector)(nil)
	_ connectors.Checker       = (*Connector)(nil)
	_ connectors.MemberUpdater = (*Connector)(nil)
	_ connectors.Lister        = (*Connector)(nil)
	_ connectors.Describer     = (*Connector)(nil)
)

// New validates cfg (its keys: the Key* and Cred* constants) and returns a connector for it,
// without contacting the store. An invalid configuration is an error of ClassInvalid naming
// every key at fault (wrapping domain.ErrInvalid and one *domain.FieldError per problem).
func New(cfg connectors.StoreConfig) (*Connector, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	return &Connector{s: s, client: s.httpClient(), now: time.Now}, nil
}

// Features declares the store's features: its profile's (Slack: no hard delete, 180 writes a
// minute; Zoom: 60 writes a minute), else connectors.DefaultFeatures.
func (c *Connector) Features() connectors.Features { return c.s.profile.features }

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

func endpoint(op string, kind connectors.Kind) (string, error) {
	switch kind {
	case connectors.KindUser:
		return "/Users", nil
	case connectors.KindGroup:
		return "/Groups", nil
	}
	return "", invalid(op, domain.Invalidf("kind", "must be user or group, not %q", kind))
}

func invalid(op string, err error) error {
	return &connectors.Error{Class: connectors.ClassInvalid, Op: op, Err: err}
}

func resourcePath(op string, kind connectors.Kind, id string) (string, error) {
	ep, err := endpoint(op, kind)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", invalid(op, domain.Invalidf("id", "required"))
	}
	return ep + "/" + url.PathEscape(id), nil
}

// do sends a request to the SCIM root and returns the response body of a 2xx answer.
func (c *Connector) do(ctx context.Context, op, method, path string, query url.Values, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, invalid(op, fmt.Errorf("encode request: %w", err))
		}
		rd = bytes.NewReader(b)
	}
	u := c.s.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, 0, invalid(op, fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Accept", contentType)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, transportError(op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, resp.StatusCode, statusError(op, resp, b, c.now())
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, resp.StatusCode, transportError(op, err)
	}
	if len(b) > maxBody {
		return nil, resp.StatusCode, &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Status: resp.StatusCode,
			Err: fmt.Errorf("response larger than %d bytes", maxBody)}
	}
	return b, resp.StatusCode, nil
}

// Get returns resource id of kind; a missing one is ClassNotFound.
func (c *Connector) Get(ctx context.Context, kind connectors.Kind, id string) (connectors.Resource, error) {
	op := "get " + string(kind)
	p, err := resourcePath(op, kind, id)
	if err != nil {
		return connectors.Resource{}, err
	}
	b, _, err := c.do(ctx, op, http.MethodGet, p, nil, nil)
	if err != nil {
		return connectors.Resource{}, err
	}
	return decodeResource(op, b)
}

// attributePath is a SCIM attribute path without a value filter: [urn:…:]attr[.sub].
var attributePath = regexp.MustCompile(`^(urn:[A-Za-z0-9.:_-]+:)?[A-Za-z][A-Za-z0-9_$-]*(\.[A-Za-z][A-Za-z0-9_$-]*)?$`)

// Find returns the resources of kind whose attribute equals value, by a SCIM filter
// `attribute eq "value"` (the value JSON-escaped), compared as the store compares (userName and
// emails.value case-insensitively). attribute is an attribute path without a value filter.
func (c *Connector) Find(ctx context.Context, kind connectors.Kind, attribute, value string) ([]connectors.Resource, error) {
	op := "find " + string(kind)
	ep, err := endpoint(op, kind)
	if err != nil {
		return nil, err
	}
	if !attributePath.MatchString(attribute) {
		return nil, invalid(op, domain.Invalidf("attribute", "not a SCIM attribute path: %q", clean(attribute, 100)))
	}
	found := []connectors.Resource{}
	err = c.pages(ctx, op, ep, EqFilter(attribute, value), func(r connectors.Resource) bool {
		found = append(found, r)
		return len(found) < MaxFound
	})
	return found, err
}

// MaxFound bounds what Find returns: a correlation needs to know only whether none, one or
// several accounts match, and a store answering without end must not exhaust memory.
const MaxFound = 100

// EqFilter returns the SCIM filter `attribute eq "value"`, value quoted as a JSON string
// (RFC 7644 §3.4.2.2), so that quotes and backslashes in it cannot change the filter.
func EqFilter(attribute, value string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(value) // a string always encodes
	return attribute + " eq " + strings.TrimSuffix(b.String(), "\n")
}

// List calls fn for each resource of kind, in pages of startIndex/count, until fn returns false.
func (c *Connector) List(ctx context.Context, kind connectors.Kind, fn func(connectors.Resource) bool) error {
	op := "list " + string(kind)
	ep, err := endpoint(op, kind)
	if err != nil {
		return err
	}
	return c.pages(ctx, op, ep, "", fn)
}

func (c *Connector) pages(ctx context.Context, op, ep, filter string, fn func(connectors.Resource) bool) error {
	start := 1
	for {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(pageSize)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		b, _, err := c.do(ctx, op, http.MethodGet, ep, q, nil)
		if err != nil {
			return err
		}
		page, err := ParseListResponse(b)
		if err != nil {
			return malformed(op, err)
		}
		if page.StartIndex != 0 && page.StartIndex != start {
			// A store that answers another page than asked (the same one again, say) would
			// make this loop for ever.
			return malformed(op, fmt.Errorf("asked for startIndex %d, got the page at %d", start, page.StartIndex))
		}
		for _, r := range page.Resources {
			if !fn(r) {
				return nil
			}
		}
		n := len(page.Resources)
		// Stop on an empty page or past the total (some stores answer the last page again for a
		// startIndex beyond it).
		if n == 0 || start+n > page.TotalResults {
			return nil
		}
		start += n
	}
}

// ListPage is a decoded SCIM ListResponse (RFC 7644 §3.4.2).
type ListPage struct {
	TotalResults int
	StartIndex   int
	Resources    []connectors.Resource
}

// ParseListResponse decodes a SCIM ListResponse body. Every resource must have a string id.
func ParseListResponse(body []byte) (ListPage, error) {
	var raw struct {
		TotalResults *int              `json:"totalResults"`
		StartIndex   int               `json:"startIndex"`
		Resources    []json.RawMessage `json:"Resources"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return ListPage{}, fmt.Errorf("list response: %w", err)
	}
	if raw.TotalResults == nil {
		return ListPage{}, errors.New("list response: totalResults missing")
	}
	if *raw.TotalResults < 0 {
		return ListPage{}, errors.New("list response: totalResults negative")
	}
	page := ListPage{TotalResults: *raw.TotalResults, StartIndex: raw.StartIndex, Resources: make([]connectors.Resource, 0, len(raw.Resources))}
	for i, r := range raw.Resources {
		res, err := parseResource(r)
		if err != nil {
			return ListPage{}, fmt.Errorf("list response: Resources[%d]: %w", i, err)
		}
		page.Resources = append(page.Resources, res)
	}
	return page, nil
}

// parseResource decodes a SCIM resource: its "id" becomes the Resource's ID, "schemas" is
// dropped, the rest are the attributes.
func parseResource(b []byte) (connectors.Resource, error) {
	var attrs map[string]any
	if err := json.Unmarshal(b, &attrs); err != nil {
		return connectors.Resource{}, fmt.Errorf("resource: %w", err)
	}
	if attrs == nil {
		return connectors.Resource{}, errors.New("resource: not an object")
	}
	id, _ := attrs["id"].(string)
	if id == "" {
		return connectors.Resource{}, errors.New("resource: id missing")
	}
	delete(attrs, "id")
	delete(attrs, "schemas")
	return connectors.Resource{ID: id, Attributes: attrs}, nil
}

func decodeResource(op string, b []byte) (connectors.Resource, error) {
	r, err := parseResource(b)
	if err != nil {
		return connectors.Resource{}, malformed(op, err)
	}
	return r, nil
}

// malformed is the error of a 2xx answer that is not what SCIM says it is (a proxy's page, a
// broken store): ClassUnavailable, since the store, not the request, is at fault, and a write
// may have happened (the runtime retries and matches the account by its correlation attribute).
func malformed(op string, err error) error {
	return &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Err: fmt.Errorf("malformed answer: %w", err)}
}

// body returns the request body of a resource: attrs without id and meta, with schemas naming
// the core schema of kind and every extension schema present.
func body(kind connectors.Kind, id string, attrs map[string]any) map[string]any {
	out := make(map[string]any, len(attrs)+2)
	core := SchemaUser
	if kind == connectors.KindGroup {
		core = SchemaGroup
	}
	schemas := []string{core}
	for k, v := range attrs {
		switch strings.ToLower(k) {
		case "id", "meta", "schemas":
			continue
		}
		out[k] = v
		if _, isObj := v.(map[string]any); isObj && strings.HasPrefix(strings.ToLower(k), "urn:") {
			schemas = append(schemas, k)
		}
	}
	out["schemas"] = schemas
	if id != "" {
		out["id"] = id
	}
	return out
}

// Create creates a resource of kind from attrs (SCIM shape) and returns it with its ID. A
// uniqueness clash is ClassConflict.
func (c *Connector) Create(ctx context.Context, kind connectors.Kind, attrs map[string]any) (connectors.Resource, error) {
	op := "create " + string(kind)
	ep, err := endpoint(op, kind)
	if err != nil {
		return connectors.Resource{}, err
	}
	req := body(kind, "", attrs)
	if kind == connectors.KindUser && c.s.profile.userNameIsEmail {
		if err := userNameFromEmail(req); err != nil {
			return connectors.Resource{}, invalid(op, err)
		}
	}
	b, _, err := c.do(ctx, op, http.MethodPost, ep, nil, req)
	if err != nil {
		return connectors.Resource{}, err
	}
	return decodeResource(op, b)
}

// userNameFromEmail makes userName the primary (else the first) email when absent and requires
// it to be an email address.
func userNameFromEmail(attrs map[string]any) error {
	if name, _ := attrs["userName"].(string); name != "" {
		if !strings.Contains(name, "@") {
			return domain.Invalidf("userName", "must be an email address for this store")
		}
		return nil
	}
	emails, _ := attrs["emails"].([]any)
	var first string
	for _, e := range emails {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if v == "" {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			first = v
			break
		}
		if first == "" {
			first = v
		}
	}
	if first == "" {
		return domain.Invalidf("userName", "required (an email address) and no email to take it from")
	}
	attrs["userName"] = first
	return nil
}

// Delete deletes resource id of kind; a missing one is ClassNotFound. For a store without hard
// delete (Slack), deleting a user deactivates it (PATCH active=false).
func (c *Connector) Delete(ctx context.Context, kind connectors.Kind, id string) error {
	op := "delete " + string(kind)
	p, err := resourcePath(op, kind, id)
	if err != nil {
		return err
	}
	if kind == connectors.KindUser && c.s.profile.deleteDeactivates {
		_, err := c.Update(ctx, kind, id, []connectors.Change{{Path: "active", Value: false}})
		return err
	}
	_, _, err = c.do(ctx, op, http.MethodDelete, p, nil, nil)
	return err
}

// Check checks the configuration and reachability without changing the store: GET
// /ServiceProviderConfig, then an authenticated GET /Users?count=1.
func (c *Connector) Check(ctx context.Context) error {
	if _, err := c.readPatchSupport(ctx, "check"); err != nil {
		return err
	}
	_, _, err := c.do(ctx, "check", http.MethodGet, "/Users", url.Values{"count": {"1"}}, nil)
	return err
}

// readPatchSupport reads /ServiceProviderConfig and remembers its patch.supported.
func (c *Connector) readPatchSupport(ctx context.Context, op string) (bool, error) {
	b, _, err := c.do(ctx, op, http.MethodGet, "/ServiceProviderConfig", nil, nil)
	if err != nil {
		return false, err
	}
	var spc struct {
		Patch struct {
			Supported bool `json:"supported"`
		} `json:"patch"`
	}
	if err := json.Unmarshal(b, &spc); err != nil {
		return false, malformed(op, fmt.Errorf("service provider config: %w", err))
	}
	c.mu.Lock()
	c.patchKnown, c.patchOK = true, spc.Patch.Supported
	c.mu.Unlock()
	return spc.Patch.Supported, nil
}

// usePatch reports whether to update by PATCH: per the patch key, or for auto per the store's
// /ServiceProviderConfig, read once.
func (c *Connector) usePatch(ctx context.Context, op string) (bool, error) {
	switch c.s.patch {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	c.mu.Lock()
	known, ok := c.patchKnown, c.patchOK
	c.mu.Unlock()
	if known {
		return ok, nil
	}
	return c.readPatchSupport(ctx, op)
}
