package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// projectionStatus is one projection's status as the API returns it.
type projectionStatus struct {
	Name          string  `json:"name"`
	Version       int     `json:"version"`
	State         string  `json:"state"`
	Checkpoint    string  `json:"checkpoint"`
	LagEvents     int64   `json:"lagEvents"`
	LagSeconds    float64 `json:"lagSeconds"`
	EventsApplied int64   `json:"eventsApplied"`
	Error         *string `json:"error"`
	Rebuild       *struct {
		TargetPosition  string    `json:"targetPosition"`
		AppliedPosition string    `json:"appliedPosition"`
		EventsApplied   int64     `json:"eventsApplied"`
		EventsPerSecond float64   `json:"eventsPerSecond"`
		StartedAt       time.Time `json:"startedAt"`
		EtaSeconds      *float64  `json:"etaSeconds"`
		Error           *string   `json:"error"`
	} `json:"rebuild"`
}

const projectionStatusFields = `name version state checkpoint lagEvents lagSeconds eventsApplied error
  rebuild { targetPosition appliedPosition eventsApplied eventsPerSecond startedAt etaSeconds error }`

func newProjectionsCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Status, rebuild and verification of a running idstream's read models"}
	var server serverFlags
	pf := cmd.PersistentFlags()
	pf.StringVar(&server.URL, "url", "", "server base URL (env IDSTREAM_URL; default http://"+DefaultConfig().Listen+")")
	pf.StringVar(&server.Token, "token", "", "API token of an organization-wide ENVIRONMENT_ADMIN (env IDSTREAM_TOKEN)")
	client := func() (*gqlClient, error) {
		if err := server.resolve(lookupEnv); err != nil {
			return nil, err
		}
		return newGQLClient(server.URL, server.Token), nil
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Print each projection's version, checkpoint, lag (events and seconds) and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			ps, err := projectionStatuses(cmd.Context(), c)
			if err != nil {
				return err
			}
			return printProjectionStatus(stdout, ps)
		},
	}

	all := false
	rebuild := &cobra.Command{
		Use:   "rebuild NAME|--all",
		Short: "Rebuild projections beside the live ones, switching when caught up, with a progress bar",
		Long: "Asks the server to rebuild each named projection from the start of the log beside the live one; queries\n" +
			"keep reading the live one until the rebuild has caught up, then switch to it. Shows progress and rate\n" +
			"until every rebuild has switched (or failed).",
		Example: "  idstream projections rebuild directory\n  idstream projections rebuild --all",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return errors.New("name the projections to rebuild, or give --all")
			}
			c, err := client()
			if err != nil {
				return err
			}
			if all {
				ps, err := projectionStatuses(cmd.Context(), c)
				if err != nil {
					return err
				}
				args = nil
				for _, p := range ps {
					args = append(args, p.Name)
				}
			}
			return rebuildProjections(cmd.Context(), c, args, stderr)
		},
	}
	rebuild.Flags().BoolVar(&all, "all", false, "rebuild every projection")

	var verifyName string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Rebuild into memory up to the live model's position and compare checksums with it",
		Long: "Replays the log from the start into a throw-away read model, exactly up to the live model's position,\n" +
			"and compares the two models' checksums: proof that a rebuild equals the live model. Exits non-zero\n" +
			"when any differs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var in map[string]any
			if verifyName != "" {
				in = map[string]any{"name": verifyName}
			}
			var out struct {
				VerifyProjections []struct {
					Name            string  `json:"name"`
					Position        string  `json:"position"`
					Events          int64   `json:"events"`
					LiveChecksum    string  `json:"liveChecksum"`
					RebuiltChecksum string  `json:"rebuiltChecksum"`
					Equal           bool    `json:"equal"`
					Seconds         float64 `json:"seconds"`
					EventsPerSecond float64 `json:"eventsPerSecond"`
				} `json:"verifyProjections"`
			}
			fmt.Fprintln(stderr, "verifying (replaying the log into memory)…")
			if err := c.do(cmd.Context(), `mutation($in: VerifyProjectionsInput) { verifyProjections(input: $in) {
  name position events liveChecksum rebuiltChecksum equal seconds eventsPerSecond } }`, map[string]any{"in": in}, &out); err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			var differ []string
			for _, v := range out.VerifyProjections {
				verdict := "EQUAL"
				if !v.Equal {
					verdict = "DIFFERENT"
					differ = append(differ, v.Name)
				}
				fmt.Fprintf(stdout, "%s: %s at position %s — %d events replayed in %.2f s (%.0f events/s)\n  live    %s\n  rebuilt %s\n",
					v.Name, verdict, v.Position, v.Events, v.Seconds, v.EventsPerSecond, v.LiveChecksum, v.RebuiltChecksum)
			}
			if len(differ) > 0 {
				return fmt.Errorf("the rebuilt model differs from the live one: %s", strings.Join(differ, ", "))
			}
			return nil
		},
	}
	verify.Flags().StringVar(&verifyName, "name", "", "verify only this projection")
	cmd.AddCommand(status, rebuild, verify)
	return cmd
}

func projectionStatuses(ctx context.Context, c *gqlClient) ([]projectionStatus, error) {
	var out struct {
		Projections []projectionStatus `json:"projections"`
	}
	if err := c.do(ctx, `{ projections { `+projectionStatusFields+` } }`, nil, &out); err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	return out.Projections, nil
}

func printProjectionStatus(w io.Writer, ps []projectionStatus) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tCHECKPOINT\tLAG EVENTS\tLAG SECONDS\tAPPLIED\tREBUILD")
	for _, p := range ps {
		rebuild := "-"
		if r := p.Rebuild; r != nil {
			rebuild = fmt.Sprintf("%d events to %s at %.0f/s", r.EventsApplied, r.TargetPosition, r.EventsPerSecond)
			if r.Error != nil {
				rebuild = "failed: " + *r.Error
			}
		}
		state := p.State
		if p.Error != nil {
			state += " (" + *p.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%.3f\t%d\t%s\n", p.Name, p.Version, state, p.Checkpoint, p.LagEvents, p.LagSeconds,
			p.EventsApplied, rebuild)
	}
	return tw.Flush()
}

// rebuildProjections starts each rebuild, then polls status and draws a progress line until
// every one has switched or failed.
func rebuildProjections(ctx context.Context, c *gqlClient, names []string, progress io.Writer) error {
	started := time.Now()
	for _, n := range names {
		if err := c.do(ctx, `mutation($n: String!) { rebuildProjection(input: {name: $n}) { name state } }`,
			map[string]any{"n": n}, nil); err != nil {
			return fmt.Errorf("rebuild %s: %w", n, err)
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(progress)
			return ctx.Err()
		case <-tick.C:
		}
		ps, err := projectionStatuses(ctx, c)
		if err != nil {
			return err
		}
		var line []string
		running := 0
		for _, p := range ps {
			if !containsName(names, p.Name) {
				continue
			}
			r := p.Rebuild
			switch {
			case p.State == "REBUILDING" && r != nil:
				running++
				line = append(line, fmt.Sprintf("%s %s %d events, %.0f events/s", p.Name, bar(r.AppliedPosition, r.TargetPosition),
					r.EventsApplied, r.EventsPerSecond))
			case r != nil && r.Error != nil:
				fmt.Fprintln(progress)
				return fmt.Errorf("rebuild of %s failed: %s", p.Name, *r.Error)
			}
		}
		if running == 0 {
			fmt.Fprintf(progress, "\rrebuilt and switched: %s (%.1f s)\n", strings.Join(names, ", "), time.Since(started).Seconds())
			return nil
		}
		fmt.Fprintf(progress, "\r%s ", strings.Join(line, "; "))
	}
}

func containsName(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// bar draws a 30-character bar of commit position applied over target ("C" or "C/P").
func bar(applied, target string) string {
	var a, t uint64
	fmt.Sscanf(applied, "%d", &a)
	fmt.Sscanf(target, "%d", &t)
	frac := 1.0
	if t > 0 {
		frac = min(1, float64(a)/float64(t))
	}
	n := int(frac * 30)
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("=", n), strings.Repeat(" ", 30-n), frac*100)
}
