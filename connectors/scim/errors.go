package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/idstream/idstream/connectors"
)

// maxDetail bounds the store's error detail quoted in an error.
const maxDetail = 200

// maxRetryAfter caps a Retry-After the store asks for.
const maxRetryAfter = 24 * time.Hour

// scimError is a SCIM error response (RFC 7644 §3.12).
type scimError struct {
	Status   json.RawMessage `json:"status"`
	ScimType string          `json:"scimType"`
	Detail   string          `json:"detail"`
}

// parseErrorBody returns the scimType and detail of a SCIM error response body, the detail
// truncated to maxDetail bytes (at a rune boundary) and stripped of control characters. A body
// that is not a SCIM error gives empty strings.
func parseErrorBody(body []byte) (scimType, detail string) {
	var e scimError
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return clean(e.ScimType, 40), clean(e.Detail, maxDetail)
}

func clean(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// statusError classifies a non-2xx response of op. body is (a prefix of) the response body.
func statusError(op string, resp *http.Response, body []byte, now time.Time) error {
	scimType, detail := parseErrorBody(body)
	e := &connectors.Error{Op: op, Status: resp.StatusCode}
	code := resp.StatusCode
	switch {
	case scimType == "uniqueness" && (code == http.StatusBadRequest || code == http.StatusConflict):
		e.Class = connectors.ClassConflict
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Class = connectors.ClassAuth
	case code == http.StatusNotFound:
		e.Class = connectors.ClassNotFound
	case code == http.StatusConflict || code == http.StatusPreconditionFailed:
		e.Class = connectors.ClassConflict
	case code == http.StatusTooManyRequests:
		e.Class = connectors.ClassRateLimited
		e.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	case code == http.StatusNotImplemented:
		// The store does not implement the request (e.g. PATCH): permanent as configured.
		e.Class = connectors.ClassInvalid
	case code == http.StatusRequestTimeout || code >= 500:
		e.Class = connectors.ClassUnavailable
		e.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	default:
		e.Class = connectors.ClassInvalid
	}
	msg := http.StatusText(code)
	if scimType != "" {
		msg += " [" + scimType + "]"
	}
	if detail != "" {
		msg += ": " + detail
	}
	e.Err = errors.New(msg)
	return e
}

// transportError classifies an error of http.Client.Do for op. The error's text names the URL
// (which holds no credentials: New refuses them in baseUrl) but never the request's headers.
func transportError(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// The token endpoint's answer: its body is not quoted (it could echo the request).
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		class := connectors.ClassAuth
		if status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
			class = connectors.ClassUnavailable
		}
		msg := "the token endpoint refused the client credentials"
		if re.ErrorCode != "" {
			msg += " (" + clean(re.ErrorCode, 40) + ")"
		}
		return &connectors.Error{Class: class, Op: op, Status: status, Err: errors.New(msg)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Err: err}
}

// redactURL drops a URL's query (a filter holds personal data) for error messages.
func redactURL(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// ParseRetryAfter parses an HTTP Retry-After header value (RFC 9110 §10.2.3): a number of
// seconds or an HTTP date, relative to now. ok is false for an empty or malformed value. The
// result is never negative and at most 24 hours.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) && strings.Trim(v, "0123456789") == "" {
				return maxRetryAfter, true
			}
			return 0, false
		}
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d.Round(time.Second), true
}
