package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// errUsageShown reports a command-line mistake whose message cobra already printed.
var errUsageShown = errors.New("usage error")

// newRootCommand builds the command tree. Subcommands are added here, by their constructors:
// there is no registry filled from init().
func newRootCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "idstream",
		Short: "Event-sourced identity directory and provisioning engine",
		Long: "idstream keeps every identity and configuration change as an event in an append-only log.\n" +
			"Settings come from flags, or from the IDSTREAM_* environment variables named in each flag's help.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		c.PrintErrf("idstream: %v\n%s", err, c.UsageString())
		return errUsageShown
	})
	root.AddCommand(
		newServeCommand(lookupEnv, stdout, stderr),
		newVersionCommand(stdout),
		newBenchCommand(lookupEnv, stdout, stderr),
		newEventStoreCommand(lookupEnv, stdout, stderr),
		newTokenCommand(lookupEnv, stdout, stderr),
		newUsersCommand(lookupEnv, stdout, stderr),
		newEventsCommand(lookupEnv, stdout, stderr),
		newInspectCommand(lookupEnv, stdout),
		newProjectionsCommand(lookupEnv, stdout, stderr),
	)
	return root
}
