package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// inspectOptions are the flags of "idstream inspect KIND ID".
type inspectOptions struct {
	server      serverFlags
	Environment string
	At          string
	Position    string
	DiffFrom    string
}

// inspectQueries are the queries inspect runs, by resource kind: every field of the resource.
var inspectQueries = map[string]string{
	"user": `query($e: ID!, $id: ID!, $t: DateTime, $p: String) { r: user(environmentId: $e, id: $id, asOf: $t, atPosition: $p) {
  id environmentId populationId population { id name } username email name { formatted given middle family honorificPrefix honorificSuffix }
  nickname title preferredLanguage locale timezone primaryPhone mobilePhone
  address { streetAddress locality region postalCode countryCode } externalId accountId type photo customAttributes
  enabled locked lockReason lockedUntil groups(transitive: true) { id name } } }`,
	"group": `query($e: ID!, $id: ID!, $t: DateTime, $p: String) { r: group(environmentId: $e, id: $id, asOf: $t, atPosition: $p) {
  id name description kind filter members { __typename ... on User { id username } ... on Group { id name } } } }`,
	"population": `query($e: ID!, $id: ID!, $t: DateTime, $p: String) { r: population(environmentId: $e, id: $id, asOf: $t, atPosition: $p) {
  id name description userCount } }`,
	"environment": `query($id: ID!, $t: DateTime, $p: String) { r: environment(id: $id, asOf: $t, atPosition: $p) {
  id name defaultPopulationId populations { id name } } }`,
}

func newInspectCommand(lookupEnv func(string) (string, bool), stdout io.Writer) *cobra.Command {
	o := inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect user|group|population|environment ID",
		Short: "Print a resource as it stood at a past instant (time travel), or what changed since one",
		Long: "Prints the resource as JSON as of --at (an instant, or a duration ago) or --position, replayed from the\n" +
			"log; now when neither is given. --diff-from prints the attribute-level changes between that instant and\n" +
			"--at (default now) instead.",
		Example: "  idstream inspect user 0192f... --environment 0192e... --at 2026-12-01T09:00:00Z\n" +
			"  idstream inspect user 0192f... --environment 0192e... --diff-from 24h",
		Args: cobra.ExactArgs(2),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.server.URL, "url", "", "server base URL (env IDSTREAM_URL; default http://"+DefaultConfig().Listen+")")
	fs.StringVar(&o.server.Token, "token", "", "API token that may read the resource (env IDSTREAM_TOKEN)")
	fs.StringVar(&o.Environment, "environment", "", "environment ID (required, but for inspect environment)")
	fs.StringVar(&o.At, "at", "", "the instant: RFC 3339, or a duration ago such as 2h")
	fs.StringVar(&o.Position, "position", "", "the log position instead of an instant")
	fs.StringVar(&o.DiffFrom, "diff-from", "", "print the changes from this instant (RFC 3339, a duration ago, or pos:<position>) to --at")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kind, id := strings.ToLower(args[0]), args[1]
		q, ok := inspectQueries[kind]
		if !ok {
			return fmt.Errorf("inspect %q: want user, group, population or environment", args[0])
		}
		if err := o.server.resolve(lookupEnv); err != nil {
			return err
		}
		if kind == "environment" && o.Environment == "" {
			o.Environment = id
		}
		if o.Environment == "" {
			return errors.New("--environment is required")
		}
		if o.At != "" && o.Position != "" {
			return errors.New("give --at or --position, not both")
		}
		now := time.Now()
		vars := map[string]any{"e": o.Environment, "id": id}
		if kind == "environment" {
			delete(vars, "e")
		}
		if o.At != "" {
			t, err := parseInstant(o.At, now)
			if err != nil {
				return fmt.Errorf("--at: %w", err)
			}
			vars["t"] = t.UTC().Format(time.RFC3339Nano)
		}
		if o.Position != "" {
			vars["p"] = o.Position
		}
		c := newGQLClient(o.server.URL, o.server.Token)
		if o.DiffFrom != "" {
			return inspectDiff(cmd, c, o, id, vars, now, stdout)
		}
		var out struct {
			R json.RawMessage `json:"r"`
		}
		if err := c.do(cmd.Context(), q, vars, &out); err != nil {
			return fmt.Errorf("inspect %s %s: %w", kind, id, err)
		}
		return printIndented(stdout, out.R)
	}
	return cmd
}

func inspectDiff(cmd *cobra.Command, c *gqlClient, o inspectOptions, id string, at map[string]any, now time.Time, stdout io.Writer) error {
	vars := map[string]any{"e": o.Environment, "id": id}
	if p, ok := strings.CutPrefix(o.DiffFrom, "pos:"); ok {
		vars["fp"] = p
	} else {
		t, err := parseInstant(o.DiffFrom, now)
		if err != nil {
			return fmt.Errorf("--diff-from: %w", err)
		}
		vars["f"] = t.UTC().Format(time.RFC3339Nano)
	}
	if t, ok := at["t"]; ok {
		vars["t"] = t
	}
	if p, ok := at["p"]; ok {
		vars["tp"] = p
	}
	q := `query($e: ID!, $id: ID!, $f: DateTime, $fp: String, $t: DateTime, $tp: String) {
  r: diff(environmentId: $e, resourceId: $id, from: $f, fromPosition: $fp, to: $t, toPosition: $tp) {
    resourceId resourceType fromPosition toPosition created deleted changes { path kind before after position changedAt actor } } }`
	var out struct {
		R json.RawMessage `json:"r"`
	}
	if err := c.do(cmd.Context(), q, vars, &out); err != nil {
		return fmt.Errorf("diff %s: %w", id, err)
	}
	return printIndented(stdout, out.R)
}

func printIndented(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// parseInstant reads an RFC 3339 instant, or a Go duration meaning that long before now.
func parseInstant(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 instant (2026-12-03T10:00:00Z) nor a duration (90m)", s)
}
