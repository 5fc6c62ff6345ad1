// Command fakeesdb serves the in-memory EventStoreDB stand-in of package fakeserver over gRPC,
// so that several idstream processes can share one event store in tests on machines where
// EventStoreDB cannot run (cmd/idstream's multi-process test starts it).
//
// IT IS AN ADAPTER CONTRACT TEST, NEVER A CLAIM OF COMPATIBILITY: it models what the esdb backend
// relies on, as far as its authors know EventStoreDB's behaviour (see fakeserver's doc comment
// for what is modelled and what is absent). Passing against it proves that idstream maps this
// model correctly; only a run against a real server says anything about EventStoreDB itself.
//
// It listens on -listen (default 127.0.0.1:0, any free loopback port), prints its esdb://
// connection string (TLS off) as the first line of standard output, and serves until SIGTERM or
// SIGINT. The data lives in memory only: it is gone when the process ends.
//
// Being under eventstore/esdb/internal, it builds only from this module.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/idstream/idstream/eventstore/esdb/internal/fakeserver"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("fakeesdb", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address, host:port (port 0: any free port)")
	maxAppend := fs.Int("max-append-size", 0, "largest append in bytes; 0 means EventStoreDB's default, 1 MiB")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "fakeesdb: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		fmt.Fprintf(os.Stderr, "fakeesdb: -listen %q: want host:port: %v\n", *listen, err)
		return 2
	}
	if *maxAppend < 0 {
		fmt.Fprintf(os.Stderr, "fakeesdb: -max-append-size %d: want 0 or more\n", *maxAppend)
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	srv := fakeserver.New(fakeserver.Options{MaxAppendSize: *maxAppend})
	if err := srv.Start(*listen); err != nil {
		fmt.Fprintf(os.Stderr, "fakeesdb: %v\n", err)
		return 1
	}
	if _, err := fmt.Println(srv.ConnectionString()); err != nil {
		srv.Stop()
		return 1
	}
	fmt.Fprintf(os.Stderr, "fakeesdb: serving on %s (an adapter contract test, not EventStoreDB)\n", srv.Addr())
	sig := <-sigs
	fmt.Fprintf(os.Stderr, "fakeesdb: %v: stopping\n", sig)
	srv.Stop()
	return 0
}
