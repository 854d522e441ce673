// Command signpost is service discovery for Mesos and Marathon clusters: an
// authoritative DNS server (dns), a load balancer (lb), and a simulated
// cluster to run them against (sim, demo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// exitUsage is the status for bad flags, bad files and commands that do not
// exist yet, as with most Unix tools.
const exitUsage = 2

// command is one subcommand: its flags are registered on fs, run does the work.
type command struct {
	name    string
	summary string
	// setup registers flags and returns the function that runs the command.
	setup func(fs *flag.FlagSet) func(ctx context.Context, env *env) error
	// raw, when set instead of setup, runs a command that parses its own
	// arguments (env.args) and makes its own logger: `lb` takes
	// Marathon-LB's argparse command line, which Go's flag package cannot
	// read.
	raw func(ctx context.Context, env *env) error
}

// env is what a command may touch of the process, passed in so that tests can
// run commands in-process.
type env struct {
	stdout, stderr io.Writer
	args           []string
	logger         *slog.Logger
}

func commands() []command {
	return []command{
		{name: "dns", summary: "authoritative DNS for the cluster domain, a drop-in for Mesos-DNS", setup: setupDNS},
		{name: "lb", summary: "load balancer following Marathon, a drop-in for Marathon-LB", raw: runLB},
		{name: "sim", summary: "simulated Mesos masters and Marathon (with real tasks)", setup: setupSim},
		{name: "demo", summary: "a simulated cluster with sample apps and real tasks, and what to try", setup: setupDemo},
		{name: "version", summary: "print the version", setup: setupVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		if c.raw != nil {
			e := &env{stdout: stdout, stderr: stderr, args: args[1:], logger: slog.New(slog.NewTextHandler(stderr, nil))}
			return finish(c.name, c.raw(ctx, e), stderr)
		}
		fs := flag.NewFlagSet("signpost "+c.name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
		runCmd := c.setup(fs)
		fs.Usage = func() {}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stdout, "Usage: signpost %s [flags]\n\n%s.\n\nFlags:\n", c.name, capitalize(c.summary))
				fs.SetOutput(stdout)
				fs.PrintDefaults()
				return 0
			}
			fmt.Fprintf(stderr, "signpost %s: %v (see 'signpost %s -h')\n", c.name, err, c.name)
			return exitUsage
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "signpost %s: unexpected argument %q (see 'signpost %s -h')\n", c.name, fs.Arg(0), c.name)
			return exitUsage
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			fmt.Fprintf(stderr, "signpost %s: -log-level: %q is not debug, info, warn or error\n", c.name, *logLevel)
			return exitUsage
		}
		e := &env{stdout: stdout, stderr: stderr, args: args[1:],
			logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
		return finish(c.name, runCmd(ctx, e), stderr)
	}
	fmt.Fprintf(stderr, "signpost: unknown command %q (see 'signpost help')\n", name)
	return exitUsage
}

// finish reports a command's error in one line and returns the exit status.
func finish(name string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "signpost %s: %v\n", name, err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return 1
}

// usageError marks errors in what the user asked for (flags, files), which
// exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: signpost <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help     this text; 'signpost help <command>' lists a command's flags")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func setupVersion(fs *flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		fmt.Fprintln(e.stdout, "signpost", version())
		return nil
	}
}

// version is the module version, or the VCS revision for a development build.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		v = "devel-" + rev[:min(12, len(rev))]
		if dirty {
			v += "-dirty"
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v + " " + info.GoVersion
}
