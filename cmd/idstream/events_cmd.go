package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// eventsOptions are the flags shared by "idstream events tail|show|stream".
type eventsOptions struct {
	server       serverFlags
	Environment  string
	Actor        string
	ResourceType string
	Resource     string
	Type         string
	Since        string
	JSON         bool
}

// auditEvent is one audit record as the API returns it.
type auditEvent struct {
	Position      string          `json:"position"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Stream        string          `json:"stream"`
	Revision      int             `json:"revision"`
	EnvironmentID *string         `json:"environmentId"`
	Actor         *string         `json:"actor"`
	CorrelationID *string         `json:"correlationId"`
	CausationID   *string         `json:"causationId"`
	OccurredAt    time.Time       `json:"occurredAt"`
	RecordedAt    time.Time       `json:"recordedAt"`
	ClientAddress *string         `json:"clientAddress"`
	UserAgent     *string         `json:"userAgent"`
	TokenID       *string         `json:"tokenId"`
	ResourceType  *string         `json:"resourceType"`
	ResourceID    *string         `json:"resourceId"`
	Data          json.RawMessage `json:"data"`
}

const auditEventFields = `position id type stream revision environmentId actor correlationId causationId occurredAt
  recordedAt clientAddress userAgent tokenId resourceType resourceId data`

func newEventsCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Read the audit trail of a running idstream (tail, show, stream)"}
	cmd.AddCommand(newEventsTailCommand(lookupEnv, stdout), newEventsShowCommand(lookupEnv, stdout),
		newEventsStreamCommand(lookupEnv, stdout, stderr))
	return cmd
}

func (o *eventsOptions) flags(cmd *cobra.Command, filters bool) {
	fs := cmd.Flags()
	fs.StringVar(&o.server.URL, "url", "", "server base URL (env IDSTREAM_URL; default http://"+DefaultConfig().Listen+")")
	fs.StringVar(&o.server.Token, "token", "", "API token of an AUDITOR or ENVIRONMENT_ADMIN (env IDSTREAM_TOKEN)")
	fs.StringVar(&o.Environment, "environment", "", "environment ID (required)")
	fs.BoolVar(&o.JSON, "json", false, "print each record as one line of JSON, payload included")
	if filters {
		fs.StringVar(&o.Actor, "actor", "", "only records of this actor (apiclient:<id>, system:bootstrap…)")
		fs.StringVar(&o.ResourceType, "resource-type", "", "only records of this resource type (user, group, population, schema…)")
		fs.StringVar(&o.Resource, "resource", "", "only records of this resource ID")
		fs.StringVar(&o.Type, "type", "", "only this event type, or a prefix ending in a dot (user.)")
	}
}

// filter is the AuditFilter input the flags ask for (nil when none).
func (o *eventsOptions) filter() (map[string]any, error) {
	f := map[string]any{}
	for k, v := range map[string]string{"actorId": o.Actor, "resourceType": o.ResourceType, "resourceId": o.Resource, "eventType": o.Type} {
		if v != "" {
			f[k] = v
		}
	}
	if o.Since != "" {
		t, err := parseInstant(o.Since, time.Now())
		if err != nil {
			return nil, fmt.Errorf("--since: %w", err)
		}
		f["from"] = t.Format(time.RFC3339Nano)
	}
	if len(f) == 0 {
		return nil, nil
	}
	return f, nil
}

func (o *eventsOptions) resolve(lookupEnv func(string) (string, bool)) error {
	if err := o.server.resolve(lookupEnv); err != nil {
		return err
	}
	if o.Environment == "" {
		return errors.New("--environment is required")
	}
	return nil
}

func newEventsTailCommand(lookupEnv func(string) (string, bool), stdout io.Writer) *cobra.Command {
	o := eventsOptions{}
	n := 20
	cmd := &cobra.Command{
		Use:     "tail",
		Short:   "Print the environment's last audit records, oldest of them first",
		Example: "  idstream events tail --environment 0192f... -n 50 --resource-type user",
		Args:    cobra.NoArgs,
	}
	o.flags(cmd, true)
	cmd.Flags().IntVarP(&n, "lines", "n", n, "how many records (1 to 1000)")
	cmd.Flags().StringVar(&o.Since, "since", "", "only records that occurred at or after this instant (RFC 3339, or a duration ago such as 1h)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.resolve(lookupEnv); err != nil {
			return err
		}
		if n < 1 || n > 1000 {
			return fmt.Errorf("--lines %d: want 1 to 1000", n)
		}
		filter, err := o.filter()
		if err != nil {
			return err
		}
		var out struct {
			AuditEvents struct {
				Edges []struct{ Node auditEvent } `json:"edges"`
			} `json:"auditEvents"`
		}
		q := `query($e: ID!, $f: AuditFilter, $n: Int) { auditEvents(environmentId: $e, filter: $f, first: $n) { edges { node { ` +
			auditEventFields + ` } } } }`
		if err := newGQLClient(o.server.URL, o.server.Token).do(cmd.Context(), q,
			map[string]any{"e": o.Environment, "f": filter, "n": n}, &out); err != nil {
			return fmt.Errorf("read the audit trail: %w", err)
		}
		edges := out.AuditEvents.Edges
		slices.Reverse(edges) // newest first from the API; tail prints oldest first
		for _, e := range edges {
			if err := printAuditEvent(stdout, e.Node, o.JSON); err != nil {
				return err
			}
		}
		return nil
	}
	return cmd
}

func newEventsShowCommand(lookupEnv func(string) (string, bool), stdout io.Writer) *cobra.Command {
	o := eventsOptions{}
	cmd := &cobra.Command{
		Use:     "show POSITION",
		Short:   "Print one audit record, with its payload (sensitive values redacted)",
		Example: "  idstream events show 1234 --environment 0192f...",
		Args:    cobra.ExactArgs(1),
	}
	o.flags(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.resolve(lookupEnv); err != nil {
			return err
		}
		var out struct {
			AuditEvent auditEvent `json:"auditEvent"`
		}
		q := `query($e: ID!, $p: String!) { auditEvent(environmentId: $e, position: $p) { ` + auditEventFields + ` } }`
		if err := newGQLClient(o.server.URL, o.server.Token).do(cmd.Context(), q,
			map[string]any{"e": o.Environment, "p": args[0]}, &out); err != nil {
			return fmt.Errorf("read the audit record at %s: %w", args[0], err)
		}
		if o.JSON {
			return printAuditEvent(stdout, out.AuditEvent, true)
		}
		b, err := json.MarshalIndent(out.AuditEvent, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return cmd
}

func newEventsStreamCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	o := eventsOptions{}
	after := ""
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Print the environment's audit records live as they commit, until interrupted",
		Long: "Subscribes over a websocket (graphql-transport-ws) and prints each matching record as it commits,\n" +
			"in log order. --after starts from a position (a record's position: the stream resumes after it).",
		Example: "  idstream events stream --environment 0192f... --type user.",
		Args:    cobra.NoArgs,
	}
	o.flags(cmd, true)
	cmd.Flags().StringVar(&after, "after", "", "start after this position (default: now)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.resolve(lookupEnv); err != nil {
			return err
		}
		filter, err := o.filter()
		if err != nil {
			return err
		}
		vars := map[string]any{"e": o.Environment, "f": filter}
		if after != "" {
			vars["a"] = after
		}
		q := `subscription($e: ID!, $f: AuditFilter, $a: String) { auditEvents(environmentId: $e, filter: $f, afterPosition: $a) { ` +
			auditEventFields + ` } }`
		fmt.Fprintf(stderr, "streaming the audit trail of environment %s (Ctrl-C to stop)\n", o.Environment)
		return subscribe(cmd.Context(), o.server, q, vars, func(data json.RawMessage) error {
			var msg struct {
				AuditEvents auditEvent `json:"auditEvents"`
			}
			if err := json.Unmarshal(data, &msg); err != nil {
				return fmt.Errorf("decode an audit record: %w", err)
			}
			return printAuditEvent(stdout, msg.AuditEvents, o.JSON)
		})
	}
	return cmd
}

// printAuditEvent prints e on one line: position, time, type, resource, actor and request; or
// the whole record as JSON.
func printAuditEvent(w io.Writer, e auditEvent, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	resource := e.Stream
	if e.ResourceType != nil && e.ResourceID != nil {
		resource = *e.ResourceType + "/" + *e.ResourceID
	}
	parts := []string{e.Position, e.OccurredAt.UTC().Format(time.RFC3339Nano), e.Type, resource, "by=" + deref(e.Actor)}
	if e.CorrelationID != nil {
		parts = append(parts, "request="+*e.CorrelationID)
	}
	if e.ClientAddress != nil {
		parts = append(parts, "from="+*e.ClientAddress)
	}
	_, err := fmt.Fprintln(w, strings.Join(parts, "  "))
	return err
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// subscribe runs one GraphQL subscription over graphql-transport-ws until ctx ends, the server
// completes it, or onData fails.
func subscribe(ctx context.Context, server serverFlags, query string, vars map[string]any, onData func(json.RawMessage) error) error {
	ws, err := dialGraphQLWS(ctx, server)
	if err != nil {
		return err
	}
	defer ws.close()
	if err := ws.send(ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}}); err != nil {
		return err
	}
	for {
		msg, err := ws.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		}
		switch msg.Type {
		case "next":
			var p struct {
				Data   json.RawMessage `json:"data"`
				Errors gqlErrors       `json:"errors"`
			}
			if err := json.Unmarshal(msg.Payload, &p); err != nil {
				return fmt.Errorf("subscription: malformed next message: %w", err)
			}
			if len(p.Errors) > 0 {
				return p.Errors
			}
			if err := onData(p.Data); err != nil {
				return err
			}
		case "error":
			var es gqlErrors
			if err := json.Unmarshal(msg.Payload, &es); err != nil || len(es) == 0 {
				return fmt.Errorf("subscription refused: %s", msg.Payload)
			}
			return es
		case "complete":
			return nil
		}
	}
}
