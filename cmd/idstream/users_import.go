package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// usersImportOptions are the flags of "idstream users import".
type usersImportOptions struct {
	server      serverFlags
	Environment string
	Population  string
	BatchSize   int
}

func newUsersCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Work with the users of a running idstream"}
	cmd.AddCommand(newUsersImportCommand(lookupEnv, stdout, stderr))
	return cmd
}

func newUsersImportCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	o := usersImportOptions{BatchSize: 1000}
	cmd := &cobra.Command{
		Use:   "import FILE.jsonl",
		Short: "Import users from a JSON Lines file (one createUser input per line) through importUsers",
		Long: "Each line is a JSON object with createUser's input fields (username, email, name {given family ...},\n" +
			"customAttributes, populationId, enabled, ...) and optionally passwordHash: an existing bcrypt, argon2id,\n" +
			"PBKDF2-SHA256 or salted-SHA hash, verified as is and rehashed to argon2id at the next successful check.\n" +
			"Lines are sent in batches; a progress line goes to stderr, and every rejected line is reported with its\n" +
			"line number and the field at fault. Use - to read standard input.",
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.server.URL, "url", "", "server base URL (env IDSTREAM_URL; default http://"+DefaultConfig().Listen+")")
	fs.StringVar(&o.server.Token, "token", "", "API token with IDENTITY_DATA_ADMIN or ENVIRONMENT_ADMIN (env IDSTREAM_TOKEN)")
	fs.StringVar(&o.Environment, "environment", "", "environment ID to import into (required)")
	fs.StringVar(&o.Population, "population", "", "population for lines that name none (default: the environment's default)")
	fs.IntVar(&o.BatchSize, "batch", o.BatchSize, "users per importUsers request (1 to 10000)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.server.resolve(lookupEnv); err != nil {
			return err
		}
		if o.Environment == "" {
			return errors.New("--environment is required")
		}
		if o.BatchSize < 1 || o.BatchSize > 10000 {
			return fmt.Errorf("--batch %d: want 1 to 10000", o.BatchSize)
		}
		in := &countingReader{r: os.Stdin}
		if args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				in.size = fi.Size()
			}
			in.r = f
		}
		sum, err := importUsers(cmd.Context(), newGQLClient(o.server.URL, o.server.Token), o, in, stderr)
		fmt.Fprintf(stdout, "imported %d users, %d rejected, in %s (%.0f users/s)\n", sum.Created, sum.Rejected,
			sum.Elapsed.Round(time.Millisecond), float64(sum.Created)/sum.Elapsed.Seconds())
		if err == nil && sum.Rejected > 0 {
			err = fmt.Errorf("%d lines rejected", sum.Rejected)
		}
		return err
	}
	return cmd
}

const importUsersMutation = `mutation($input: ImportUsersInput!) {
  importUsers(input: $input) { created failed results { index userId error { code field message } } position }
}`

// importSummary is what an import did.
type importSummary struct {
	Created, Rejected int
	Elapsed           time.Duration
}

// importUsers reads JSON lines from in and sends them in batches. A line that is not a JSON
// object is rejected locally, with its line number; the server's per-user errors are reported
// against their lines too. It stops at the first request that fails as a whole.
func importUsers(ctx context.Context, c *gqlClient, o usersImportOptions, in *countingReader, progress io.Writer) (importSummary, error) {
	start := time.Now()
	var sum importSummary
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var batch []map[string]any
	var lines []int
	lastReport := time.Now()
	barShown := false // the progress bar holds the current line: end it before another message
	report := func(format string, args ...any) {
		if barShown {
			fmt.Fprintln(progress)
			barShown = false
		}
		fmt.Fprintf(progress, format, args...)
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var out struct {
			ImportUsers struct {
				Created int
				Failed  int
				Results []struct {
					Index  int
					UserID string `json:"userId"`
					Error  *struct{ Code, Field, Message string }
				}
			} `json:"importUsers"`
		}
		vars := map[string]any{"input": map[string]any{"environmentId": o.Environment, "users": batch}}
		if err := c.do(ctx, importUsersMutation, vars, &out); err != nil {
			return fmt.Errorf("import lines %d to %d: %w", lines[0], lines[len(lines)-1], err)
		}
		for _, r := range out.ImportUsers.Results {
			if r.Error != nil && r.Index >= 0 && r.Index < len(lines) {
				report("line %d: %s: %s (%s)\n", lines[r.Index], r.Error.Field, r.Error.Message, r.Error.Code)
			}
		}
		sum.Created += out.ImportUsers.Created
		sum.Rejected += out.ImportUsers.Failed
		batch, lines = batch[:0], lines[:0]
		if time.Since(lastReport) > time.Second {
			lastReport = time.Now()
			fmt.Fprintf(progress, "\r%s %d users imported, %d rejected, %.0f users/s ", in.bar(),
				sum.Created, sum.Rejected, float64(sum.Created)/time.Since(start).Seconds())
			barShown = true
		}
		return nil
	}
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var user map[string]any
		if err := json.Unmarshal(line, &user); err != nil {
			report("line %d: not a JSON object: %v\n", n, err)
			sum.Rejected++
			continue
		}
		if _, ok := user["populationId"]; !ok && o.Population != "" {
			user["populationId"] = o.Population
		}
		batch, lines = append(batch, user), append(lines, n)
		if len(batch) >= o.BatchSize {
			if err := flush(); err != nil {
				sum.Elapsed = time.Since(start)
				return sum, err
			}
		}
	}
	err := sc.Err()
	if err == nil {
		err = flush()
	}
	if barShown {
		fmt.Fprintln(progress)
	}
	sum.Elapsed = time.Since(start)
	return sum, err
}

// countingReader counts the bytes read, for the progress bar (size is 0 when unknown: stdin).
type countingReader struct {
	r    io.Reader
	n    int64
	size int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bar draws how much of the input has been read: [#####-----] 50%, or the bytes read when the
// size is unknown.
func (c *countingReader) bar() string {
	if c.size <= 0 {
		return fmt.Sprintf("%d bytes read,", c.n)
	}
	const width = 30
	done := int(min(width, c.n*width/c.size))
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", done), strings.Repeat("-", width-done), c.n*100/c.size)
}
