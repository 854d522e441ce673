package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/signpost-dns/signpost/internal/dns/config"
	"github.com/signpost-dns/signpost/internal/dns/service"
)

// setupDNS takes Mesos-DNS's own flags, -config and -version, so that its
// unit files and scripts keep working.
func setupDNS(fs *flag.FlagSet) func(context.Context, *env) error {
	path := fs.String("config", "config.json", "Mesos-DNS config file (JSON); a leading ~/ is your home folder")
	showVersion := fs.Bool("version", false, "print the version and exit")
	return func(ctx context.Context, e *env) error {
		if *showVersion {
			fmt.Fprintln(e.stdout, version())
			return nil
		}
		if _, err := os.Stat(*path); err != nil {
			return usagef("-config: %v", err)
		}
		cfg, warnings, err := config.Load(*path)
		for _, w := range warnings {
			e.logger.Warn("config", "warning", w)
		}
		if err != nil {
			return usagef("%s: %v", *path, err)
		}
		svc, err := service.New(cfg, service.Options{Version: version(), Logger: e.logger, Collect: collectAfterRefresh()})
		if err != nil {
			return usagef("%s: %v", *path, err)
		}
		return svc.Run(ctx, nil)
	}
}

// collectAfterRefresh moves the garbage collection of `signpost dns` out of
// its state refreshes: the service collects after each refresh (see
// service.Options.Collect), and GOGC 400 keeps the pacer from starting a
// collection within one, since a refresh leaves about one to two times the
// live heap as garbage. The heap's peak stays what it was (old table, new
// table and the decoded state), and between refreshes it is back to the
// table being served. An operator's GOGC is left alone, and then so is the
// collector.
func collectAfterRefresh() func() {
	if _, set := os.LookupEnv("GOGC"); set {
		return nil
	}
	debug.SetGCPercent(400)
	return runtime.GC
}
