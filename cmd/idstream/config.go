package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is what the one binary needs to wire its backends. The zero value is not useful: start
// from DefaultConfig, which runs everything on one machine with nothing set.
type Config struct {
	// Listen is the HTTP listen address, host:port. Port 0 picks a free port.
	Listen string
	// DataDir holds the embedded backends' files (the embedded event store in DataDir/eventstore).
	DataDir string
	// EventStore is "embedded" or an EventStoreDB / KurrentDB connection string
	// (esdb://, esdb+discover://, kurrentdb://, kurrentdb+discover://).
	EventStore string
	// ReadModels is "memory" or a postgres:// (postgresql://) URL: the directory read model in
	// PostgreSQL, shared by every server given the same URL (projections/pgstore).
	ReadModels string
	// Bus is "gochannel" (in process) or a nats:// URL: NATS JetStream, whose consumer group
	// lets several servers share propagation work.
	Bus string
	// SecretKeyFile is the operator key's file (default DataDir/secret.key). Processes sharing
	// one event store must share it.
	SecretKeyFile string
	// SubjectKeys is where the per-subject keys sealing personal data live: "" for the default
	// (PostgreSQL when ReadModels is a PostgreSQL URL, else DataDir/subject-keys), "local" for
	// DataDir/subject-keys, or a postgres:// URL. Processes sharing one event store must share
	// it (PostgreSQL).
	SubjectKeys string
	// PropagationSummaryRetention is how long propagation status keeps each outcome's change
	// summary (reason, error, attribute names), a Go duration ("": 168h); the status itself is
	// kept.
	PropagationSummaryRetention string
	// PropagationProbeInterval is the first wait between health probes of an unavailable
	// store, a Go duration ("": 1s); the waits double up to 10s (or to the interval when longer).
	PropagationProbeInterval string
	// Propagation is what of the propagation runtime this process runs: "all" (the forwarder
	// from the log and the workers), "workers" (workers only: several servers on one NATS bus
	// run one forwarder among them) or "off".
	Propagation string
	// PropagationReconcileInterval is how often the propagation runtime reconciles every
	// published rule with its target (drift detection), a Go duration ("": 1h; "0": never).
	PropagationReconcileInterval string
}

// SubjectKeysLocal selects the subject key store in the data directory.
const SubjectKeysLocal = "local"

// Values of the settings that select an embedded backend.
const (
	EventStoreEmbedded = "embedded"
	ReadModelsMemory   = "memory"
	BusGoChannel       = "gochannel"
	PropagationAll     = "all"
	PropagationWorkers = "workers"
	PropagationOff     = "off"
)

// DefaultConfig returns the configuration used when no flag or environment variable is set.
func DefaultConfig() Config {
	return Config{
		Listen:     "127.0.0.1:8080",
		DataDir:    "./data",
		EventStore: EventStoreEmbedded,
		ReadModels: ReadModelsMemory,
		Bus:        BusGoChannel,

		PropagationSummaryRetention:  "168h",
		Propagation:                  PropagationAll,
		PropagationReconcileInterval: "1h",
	}
}

// setting ties one Config field to its flag and its environment variable.
type setting struct {
	flag, env, usage string
	value            *string
}

func (c *Config) settings() []setting {
	return []setting{
		{"listen", "IDSTREAM_LISTEN", "HTTP listen address (host:port)", &c.Listen},
		{"data-dir", "IDSTREAM_DATA_DIR", "directory of the embedded backends' files", &c.DataDir},
		{"eventstore", "IDSTREAM_EVENTSTORE", `event log: "embedded", or an esdb:// or kurrentdb:// connection string`, &c.EventStore},
		{"readmodels", "IDSTREAM_READMODELS", `read-model store: "memory" or a postgres://… URL (shared by several servers; tables in schema "idstream")`, &c.ReadModels},
		{"bus", "IDSTREAM_BUS", `message bus for propagation: "gochannel" or a nats://… URL (JetStream)`, &c.Bus},
		{"secret-key-file", "IDSTREAM_SECRET_KEY_FILE", "operator key file, shared by servers on one event store (default <data-dir>/secret.key)", &c.SecretKeyFile},
		{"propagation", "IDSTREAM_PROPAGATION", `propagation runtime in this process: "all" (forwarder and workers), "workers" or "off"`, &c.Propagation},
		{"propagation-summary-retention", "IDSTREAM_PROPAGATION_SUMMARY_RETENTION", "how long propagation status keeps change summaries (a duration: 168h, 30m)", &c.PropagationSummaryRetention},
		{"propagation-probe-interval", "IDSTREAM_PROPAGATION_PROBE_INTERVAL", "first wait between health probes of an unavailable target store, doubling up to 10s (a duration: 1s, 200ms)", &c.PropagationProbeInterval},
		{"propagation-reconcile-interval", "IDSTREAM_PROPAGATION_RECONCILE_INTERVAL", "how often every published propagation rule is reconciled with its target to detect drift (a duration: 1h, 30m; 0: never)", &c.PropagationReconcileInterval},
		{"subject-keys", "IDSTREAM_SUBJECT_KEYS", `where the keys sealing personal data live: "local" (<data-dir>/subject-keys) or a postgres:// URL (default: the read models' PostgreSQL, else local)`, &c.SubjectKeys},
	}
}

// configFlags binds a Config to a command's flags and to the environment. A flag given on the
// command line wins over its environment variable, which wins over the default; an environment
// variable set to the empty string counts as unset.
type configFlags struct {
	cfg       Config
	fs        *pflag.FlagSet
	lookupEnv func(string) (string, bool)
}

// addConfigFlags registers the configuration flags on fs. Any command that wires backends
// (serve, bench, projections...) uses it, so that every command reads the same settings.
func addConfigFlags(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) *configFlags {
	f := &configFlags{cfg: DefaultConfig(), fs: fs, lookupEnv: lookupEnv}
	for _, s := range f.cfg.settings() {
		fs.StringVar(s.value, s.flag, *s.value, s.usage+" (env "+s.env+")")
	}
	return f
}

// Config returns the resolved, validated configuration.
func (f *configFlags) Config() (Config, error) {
	cfg := f.cfg
	for _, s := range cfg.settings() {
		if f.fs.Changed(s.flag) {
			continue
		}
		if v, ok := f.lookupEnv(s.env); ok && v != "" {
			*s.value = v
		}
	}
	return cfg, cfg.Validate()
}

// Validate reports every problem of c at once, each naming its flag and environment variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s (%s): %s", flag, env, fmt.Sprintf(format, args...)))
	}

	if err := validateListen(c.Listen); err != nil {
		bad("listen", "IDSTREAM_LISTEN", "%v", err)
	}

	switch scheme := schemeOf(c.EventStore); {
	case c.EventStore == EventStoreEmbedded:
		if strings.TrimSpace(c.DataDir) == "" {
			bad("data-dir", "IDSTREAM_DATA_DIR", "is empty, and the embedded event store needs a directory")
		}
	case scheme == "esdb", scheme == "esdb+discover", scheme == "kurrentdb", scheme == "kurrentdb+discover":
		if _, err := url.Parse(c.EventStore); err != nil {
			// url.Error quotes the input, which may hold a password: report the scheme only.
			bad("eventstore", "IDSTREAM_EVENTSTORE", "the %s:// connection string is not a valid URL", scheme)
		}
	case scheme != "":
		bad("eventstore", "IDSTREAM_EVENTSTORE", `unknown scheme %q: want "embedded", esdb://… or kurrentdb://…`, scheme)
	default:
		bad("eventstore", "IDSTREAM_EVENTSTORE", `want "embedded", esdb://… or kurrentdb://…, got %q`, c.EventStore)
	}

	switch scheme := schemeOf(c.ReadModels); {
	case c.ReadModels == ReadModelsMemory:
	case scheme == "postgres", scheme == "postgresql":
		if _, err := url.Parse(c.ReadModels); err != nil {
			// url.Error quotes the input, which may hold a password: report the scheme only.
			bad("readmodels", "IDSTREAM_READMODELS", "the %s:// connection string is not a valid URL", scheme)
		}
	default:
		bad("readmodels", "IDSTREAM_READMODELS", `want "memory" or a postgres://… URL, got %q`, redact(c.ReadModels))
	}

	switch scheme := schemeOf(c.Bus); {
	case c.Bus == BusGoChannel:
	case scheme == "nats":
		if u, err := url.Parse(c.Bus); err != nil || u.Host == "" {
			bad("bus", "IDSTREAM_BUS", "the nats:// URL names no host")
		}
	default:
		bad("bus", "IDSTREAM_BUS", `want "gochannel" or a nats://… URL, got %q`, redact(c.Bus))
	}

	switch scheme := schemeOf(c.SubjectKeys); {
	case c.SubjectKeys == "", c.SubjectKeys == SubjectKeysLocal:
	case scheme == "postgres", scheme == "postgresql":
		if _, err := url.Parse(c.SubjectKeys); err != nil {
			bad("subject-keys", "IDSTREAM_SUBJECT_KEYS", "the PostgreSQL URL is not a valid URL")
		}
	default:
		bad("subject-keys", "IDSTREAM_SUBJECT_KEYS", `want "local" or a postgres:// URL, got %q`, redact(c.SubjectKeys))
	}

	switch c.Propagation {
	case "", PropagationAll, PropagationWorkers, PropagationOff:
	default:
		bad("propagation", "IDSTREAM_PROPAGATION", `want "all", "workers" or "off", got %q`, c.Propagation)
	}
	if c.Propagation == PropagationWorkers && c.Bus == BusGoChannel {
		bad("propagation", "IDSTREAM_PROPAGATION", `"workers" needs a shared bus (a nats:// --bus): on gochannel nothing would reach them`)
	}
	if d, err := time.ParseDuration(c.PropagationSummaryRetention); c.PropagationSummaryRetention != "" && (err != nil || d <= 0) {
		bad("propagation-summary-retention", "IDSTREAM_PROPAGATION_SUMMARY_RETENTION", "want a positive duration such as 168h, got %q",
			c.PropagationSummaryRetention)
	}
	if d, err := time.ParseDuration(c.PropagationProbeInterval); c.PropagationProbeInterval != "" && (err != nil || d <= 0) {
		bad("propagation-probe-interval", "IDSTREAM_PROPAGATION_PROBE_INTERVAL", "want a positive duration such as 1s, got %q",
			c.PropagationProbeInterval)
	}
	if d, err := time.ParseDuration(c.PropagationReconcileInterval); c.PropagationReconcileInterval != "" && (err != nil || d < 0) {
		bad("propagation-reconcile-interval", "IDSTREAM_PROPAGATION_RECONCILE_INTERVAL", "want a duration such as 1h (0: never), got %q",
			c.PropagationReconcileInterval)
	}

	return errors.Join(errs...)
}

// probeInterval returns PropagationProbeInterval as a duration (0, the runtime's default,
// when unset or when it does not parse: Validate reports that).
func (c Config) probeInterval() time.Duration {
	d, _ := time.ParseDuration(c.PropagationProbeInterval)
	return max(d, 0)
}

// reconcileInterval returns PropagationReconcileInterval as the runtime's setting: 0 (its
// default, 1h) when unset, negative (never) for "0".
func (c Config) reconcileInterval() time.Duration {
	if c.PropagationReconcileInterval == "" {
		return 0
	}
	d, _ := time.ParseDuration(c.PropagationReconcileInterval)
	if d == 0 {
		return -1
	}
	return d
}

// summaryRetention returns PropagationSummaryRetention as a duration (0, the projection's
// default, when unset or when it does not parse: Validate reports that).
func (c Config) summaryRetention() time.Duration {
	d, _ := time.ParseDuration(c.PropagationSummaryRetention)
	return max(d, 0)
}

func validateListen(addr string) error {
	if addr == "" {
		return errors.New("is empty; want host:port, e.g. 127.0.0.1:8080")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// schemeOf returns the lower-cased scheme of a URL-looking value, or "".
func schemeOf(v string) string {
	scheme, _, ok := strings.Cut(v, "://")
	if !ok {
		return ""
	}
	return strings.ToLower(scheme)
}

// redact hides the user information of a URL-looking value, so that errors and logs never
// print a password.
func redact(v string) string {
	if schemeOf(v) == "" {
		return v
	}
	u, err := url.Parse(v)
	if err != nil {
		return schemeOf(v) + "://…"
	}
	return u.Redacted()
}
