// Command idstream is the one binary of idstream: it wires concrete backends from configuration
// and offers the command line (serve, version, ...). Run "idstream --help".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(runMain()) }

// runMain runs the command line of the process, cancelling its context on SIGINT or SIGTERM.
func runMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	applyGCPercent(os.LookupEnv)
	return run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
}

// run executes the command line args and returns the process exit code. It reads the
// environment only through lookupEnv, so tests run it in parallel with their own settings.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	root := newRootCommand(lookupEnv, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errUsageShown) {
			fmt.Fprintf(stderr, "idstream: %v\n", err)
		}
		return 1
	}
	return 0
}
