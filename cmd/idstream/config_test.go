package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestDefaultConfigIsValid(t *testing.T) {
	t.Parallel()
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := []func(*Config){
		func(c *Config) { c.EventStore = "esdb://admin:changeit@localhost:2113?tls=false" },
		func(c *Config) { c.EventStore = "esdb+discover://cluster.example:2113" },
		func(c *Config) { c.EventStore = "kurrentdb://localhost:2113?tls=false" },
		func(c *Config) { c.Listen = "[::1]:0" },
		func(c *Config) { c.Listen = ":9090" },
		func(c *Config) { c.EventStore = "esdb://localhost:2113"; c.DataDir = "" },
	}
	for i, mod := range ok {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("case %d (%+v): Validate() = %v, want nil", i, c, err)
		}
	}

	bad := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Listen = "" }, "--listen (IDSTREAM_LISTEN): is empty"},
		{func(c *Config) { c.Listen = "localhost" }, "--listen (IDSTREAM_LISTEN): \"localhost\" is not host:port"},
		{func(c *Config) { c.Listen = "localhost:http" }, "port \"http\" is not a number"},
		{func(c *Config) { c.Listen = "localhost:70000" }, "port \"70000\" is not a number"},
		{func(c *Config) { c.DataDir = " " }, "--data-dir (IDSTREAM_DATA_DIR): is empty"},
		{func(c *Config) { c.EventStore = "pebble" }, `--eventstore (IDSTREAM_EVENTSTORE): want "embedded", esdb://… or kurrentdb://…, got "pebble"`},
		{func(c *Config) { c.EventStore = "http://localhost:2113" }, `unknown scheme "http"`},
		{func(c *Config) { c.ReadModels = "postgres://u:secret@localhost:99999999/idstream%zz" }, "--readmodels (IDSTREAM_READMODELS): the postgres:// connection string is not a valid URL"},
		{func(c *Config) { c.ReadModels = "mysql://u:secret@localhost/x" }, `want "memory" or a postgres://… URL, got "mysql://u:xxxxx@localhost/x"`},
		{func(c *Config) { c.Bus = "nats://" }, "--bus (IDSTREAM_BUS): the nats:// URL names no host"},
		{func(c *Config) { c.Propagation = "some" }, `--propagation (IDSTREAM_PROPAGATION): want "all", "workers" or "off", got "some"`},
		{func(c *Config) { c.Propagation = "workers" }, `--propagation (IDSTREAM_PROPAGATION): "workers" needs a shared bus`},
		{func(c *Config) { c.Bus = "kafka" }, `--bus (IDSTREAM_BUS): want "gochannel" or a nats://… URL, got "kafka"`},
	}
	for _, tc := range bad {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate() = %v, want an error containing %q", c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: Validate() = %v: the error shows a password", c, err)
		}
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Config{Listen: "nowhere", DataDir: "", EventStore: "embedded", ReadModels: "mysql://x", Bus: "amqp://y"}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, flag := range []string{"--listen", "--data-dir", "--readmodels", "--bus"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("Validate() = %q: no problem reported for %s", err, flag)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags := addConfigFlags(fs, envOf(map[string]string{
		"IDSTREAM_LISTEN":   "127.0.0.1:9000", // overridden by the flag
		"IDSTREAM_DATA_DIR": "/var/lib/idstream",
		"IDSTREAM_BUS":      "", // empty counts as unset
	}))
	if err := fs.Parse([]string{"--listen", "127.0.0.1:9001"}); err != nil {
		t.Fatal(err)
	}
	got, err := flags.Config()
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Listen = "127.0.0.1:9001"
	want.DataDir = "/var/lib/idstream"
	if got != want {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}

	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, s := range want.settings() {
		if !strings.Contains(help.String(), "--"+s.flag) || !strings.Contains(help.String(), s.env) {
			t.Errorf("help does not name --%s and %s:\n%s", s.flag, s.env, help.String())
		}
	}
}

func TestServeRejectsBadConfigurationAtOnce(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--listen", "nowhere", "--bus", "kafka://localhost:9092"},
		envOf(map[string]string{"IDSTREAM_READMODELS": "mysql://localhost/idstream"}), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"--listen (IDSTREAM_LISTEN)", "--readmodels (IDSTREAM_READMODELS): want \"memory\"", "--bus (IDSTREAM_BUS)"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

func TestUnknownFlagShowsUsage(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--no-such-flag"}, envOf(nil), &stdout, &stderr); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "unknown flag: --no-such-flag") || !strings.Contains(stderr.String(), "Usage:") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"version"}, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "idstream ") || !strings.Contains(stdout.String(), "go1.") {
		t.Errorf("version printed %q", stdout.String())
	}
}

func TestConfigPropagationProbeInterval(t *testing.T) {
	for _, bad := range []string{"soon", "-1s", "0"} {
		c := DefaultConfig()
		c.PropagationProbeInterval = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--propagation-probe-interval (IDSTREAM_PROPAGATION_PROBE_INTERVAL)") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	c := DefaultConfig()
	c.PropagationProbeInterval = "250ms"
	if err := c.Validate(); err != nil || c.probeInterval() != 250*time.Millisecond {
		t.Errorf("250ms: %v, %v", err, c.probeInterval())
	}
}

func TestConfigPropagationSummaryRetention(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"soon", "-1h", "0s"} {
		c := DefaultConfig()
		c.PropagationSummaryRetention = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--propagation-summary-retention (IDSTREAM_PROPAGATION_SUMMARY_RETENTION)") {
			t.Errorf("retention %q: Validate() = %v, want a problem naming the flag", bad, err)
		}
	}
	c := DefaultConfig()
	if got := c.summaryRetention(); got != 7*24*time.Hour {
		t.Errorf("default retention %s, want 168h", got)
	}
	c.PropagationSummaryRetention = ""
	if err := c.Validate(); err != nil || c.summaryRetention() != 0 {
		t.Errorf("unset retention: %v, %s; want valid, the projection's default", err, c.summaryRetention())
	}
}

func TestConfigPropagationReconcileInterval(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"hourly", "-1h"} {
		c := DefaultConfig()
		c.PropagationReconcileInterval = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--propagation-reconcile-interval (IDSTREAM_PROPAGATION_RECONCILE_INTERVAL)") {
			t.Errorf("interval %q: Validate() = %v, want a problem naming the flag", bad, err)
		}
	}
	for in, want := range map[string]time.Duration{"1h": time.Hour, "30m": 30 * time.Minute, "0": -1, "0s": -1, "": 0} {
		c := DefaultConfig()
		c.PropagationReconcileInterval = in
		if err := c.Validate(); err != nil || c.reconcileInterval() != want {
			t.Errorf("interval %q: %v, %s; want valid, %s", in, err, c.reconcileInterval(), want)
		}
	}
}
