package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// gqlClient talks to a running idstream's GraphQL API, as the CLI commands that act on a server
// (token create, users import, bench api) do.
type gqlClient struct {
	url   string // the server's base URL; requests go to url + "/graphql"
	token string
	http  *http.Client
	// headers are set on every request (X-Request-ID, User-Agent…).
	headers map[string]string
}

func newGQLClient(baseURL, token string) *gqlClient {
	return &gqlClient{url: strings.TrimRight(baseURL, "/"), token: token,
		http: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
}

// gqlError is one entry of a GraphQL response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// gqlErrors is a response's errors as one error.
type gqlErrors []gqlError

func (es gqlErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		code, _ := e.Extensions["code"].(string)
		field, _ := e.Extensions["field"].(string)
		switch {
		case field != "":
			parts[i] = fmt.Sprintf("%s (%s, field %s)", e.Message, code, field)
		case code != "":
			parts[i] = fmt.Sprintf("%s (%s)", e.Message, code)
		default:
			parts[i] = e.Message
		}
	}
	return strings.Join(parts, "; ")
}

// do posts query with variables and decodes the response's data into out (when not nil). A
// response with errors returns them as gqlErrors, even when data came back too.
func (c *gqlClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("server URL %q: %w", c.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s/graphql: %w", c.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("POST %s/graphql: read response: %w", c.url, err)
	}
	var envelope struct {
		Data   json.RawMessage `json:"data"`
		Errors gqlErrors       `json:"errors"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return fmt.Errorf("POST %s/graphql: HTTP %d, not a GraphQL response: %.200s", c.url, resp.StatusCode, raw)
	}
	if len(envelope.Errors) > 0 {
		return envelope.Errors
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s/graphql: HTTP %d", c.url, resp.StatusCode)
	}
	if out != nil && len(envelope.Data) > 0 {
		if err := json.Unmarshal(envelope.Data, out); err != nil {
			return fmt.Errorf("decode response data: %w", err)
		}
	}
	return nil
}

// errorCode returns the extensions.code of the first GraphQL error in err ("" when none).
func errorCode(err error) string {
	var es gqlErrors
	if errors.As(err, &es) && len(es) > 0 {
		code, _ := es[0].Extensions["code"].(string)
		return code
	}
	return ""
}

// serverFlags are the flags of commands that talk to a running server.
type serverFlags struct {
	URL   string
	Token string
}

// resolve fills unset flags from IDSTREAM_URL / IDSTREAM_TOKEN, then from the defaults: the
// default listen address, and the bootstrap token in the default data directory.
func (f *serverFlags) resolve(lookupEnv func(string) (string, bool)) error {
	if f.URL == "" {
		if v, ok := lookupEnv("IDSTREAM_URL"); ok && v != "" {
			f.URL = v
		} else {
			f.URL = "http://" + DefaultConfig().Listen
		}
	}
	if f.Token == "" {
		if v, ok := lookupEnv("IDSTREAM_TOKEN"); ok && v != "" {
			f.Token = v
		}
	}
	if f.Token == "" {
		return errors.New("no API token: pass --token, or set IDSTREAM_TOKEN (the bootstrap admin's token is in <data dir>/admin.token)")
	}
	if !strings.HasPrefix(f.URL, "http://") && !strings.HasPrefix(f.URL, "https://") {
		return fmt.Errorf("--url %q: want an http:// or https:// URL", f.URL)
	}
	return nil
}
