package main

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/eventstore/embedded"
)

// newTokenBootstrapCommand is the recovery path of the bootstrap token: serve issues it only on
// an empty log, so a token file lost (or never written, after a crash between the append and the
// write) would leave the operator without any token.
func newTokenBootstrapCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Offline: create another organization-wide admin API client and write its token to <data dir>/admin.token",
		Long: "Recovers administrator access when <data dir>/admin.token is lost. It works on the embedded event\n" +
			"store only, with idstream serve stopped: it takes the data directory's lock, so it fails while a server\n" +
			"holds it. It refuses to replace an admin.token that holds a token unless --force is given. Earlier\n" +
			"admin clients stay valid: delete the lost one through the API (deleteApiClient) once you are in.",
		Args: cobra.NoArgs,
	}
	flags := addConfigFlags(cmd.Flags(), lookupEnv)
	force := cmd.Flags().Bool("force", false, "replace an admin.token that holds a token")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.Config()
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		if cfg.EventStore != EventStoreEmbedded {
			return fmt.Errorf("token bootstrap works on the embedded event store only (it proves the server is stopped by "+
				"locking the data directory); %s is a server: create clients through the API instead", redact(cfg.EventStore))
		}
		log := slog.New(slog.NewTextHandler(stderr, nil))
		store, err := embedded.Open(filepath.Join(cfg.DataDir, eventStoreDir), embedded.Options{Logger: log.With("component", "eventstore")})
		if err != nil {
			return fmt.Errorf("token bootstrap needs idstream serve stopped: %w", err)
		}
		defer store.Close()
		if present, err := adminTokenPresent(cfg.DataDir); err != nil {
			return err
		} else if present && !*force {
			return fmt.Errorf("%s holds a token already: use it, or give --force to replace it",
				filepath.Join(cfg.DataDir, adminTokenFile))
		}
		reg, err := commands.NewRegistry()
		if err != nil {
			return err
		}
		deps := &commands.Deps{Store: store, Registry: reg, Now: func() time.Time { return time.Now().UTC() }, NewID: newID}
		clientID, token, _, err := commands.NewBootstrap(deps).Handle(cmd.Context())
		if err != nil {
			return fmt.Errorf("create the admin API client: %w", err)
		}
		path, err := writeAdminToken(cfg.DataDir, token)
		if err != nil {
			return fmt.Errorf("%w (the admin API client %s was created but its token is lost: run this command again)", err, clientID)
		}
		log.Info("admin API client created offline", "client", clientID, "token_file", path)
		_, err = fmt.Fprintf(stdout, "admin token written to %s\n", path)
		return err
	}
	return cmd
}
