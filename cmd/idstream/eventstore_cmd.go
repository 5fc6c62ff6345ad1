package main

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/idstream/idstream/eventstore/embedded"
)

// newEventStoreCommand groups maintenance commands of the embedded event store.
func newEventStoreCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "eventstore", Short: "Maintain the embedded event store"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Read the whole embedded log and check every record (stop idstream serve first: the directory is locked)",
		Args:  cobra.NoArgs,
	}
	flags := addConfigFlags(verify.Flags(), lookupEnv)
	verify.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.Config()
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		if cfg.EventStore != EventStoreEmbedded {
			return fmt.Errorf("verify checks the embedded store's files; %s is a server, which checks its own", redact(cfg.EventStore))
		}
		dir := filepath.Join(cfg.DataDir, eventStoreDir)
		store, err := embedded.Open(dir, embedded.Options{Logger: slog.New(slog.NewTextHandler(stderr, nil))})
		if err != nil {
			return err
		}
		defer store.Close()
		if err := store.Verify(cmd.Context()); err != nil {
			return err
		}
		if store.Head().IsZero() {
			_, err = fmt.Fprintf(stdout, "ok: %s holds no events\n", dir)
		} else {
			_, err = fmt.Fprintf(stdout, "ok: %s holds positions 1 to %s, every record intact\n", dir, store.Head())
		}
		return err
	}
	cmd.AddCommand(verify)
	return cmd
}
