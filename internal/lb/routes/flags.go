package routes

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Flags are the Marathon-LB settings that change routing, with Marathon-LB's
// defaults (DefaultFlags). Flags that only concern HAProxy's process, the
// Marathon connection or logging are in CommandLine.
type Flags struct {
	// Groups is --group (repeatable, required): a service is routed when one
	// of its groups is listed, or when "*" is (which also takes apps without
	// any group). Empty matches nothing.
	Groups []string
	// StrictMode is --strict-mode: services are off unless
	// HAPROXY_{n}_ENABLED is true.
	StrictMode bool
	// HealthCheck is --health-check/-H: tasks of apps with Marathon health
	// checks are routed only once Marathon reports them alive.
	HealthCheck bool
	// HAProxyMap is --haproxy-map. Marathon-LB then routes plain vhosts (no
	// path, auth or redirect) and app ids through a map lookup placed after
	// every other rule instead of one ACL per vhost. The lookup is exact, so
	// it routes like the ACLs except for its position and for a miss ending
	// evaluation; RouteRule.Map reproduces both.
	HAProxyMap bool
	// BindHTTPHTTPS is true unless --dont-bind-http-https: the shared :80 and
	// :443 vhost frontends exist.
	BindHTTPHTTPS bool
	// GroupHTTPSByVhost is --group-https-by-vhost (per-vhost certificates).
	GroupHTTPSByVhost bool
	// SSLCerts is --ssl-certs (comma list), the certificates of the :443
	// frontend; default /etc/ssl/cert.pem.
	SSLCerts []string
	// MinServPortIPPerTask and MaxServPortIPPerTask are the range from which
	// service ports are assigned to IP-per-task apps Marathon gives none
	// (marathon#3636); both 0 disables the assignment. Default 10050–10100.
	MinServPortIPPerTask int
	MaxServPortIPPerTask int

	// HTTPAddr, HTTPSAddr and AppIDAddr are the shared frontends' listeners,
	// fixed by Marathon-LB's templates at *:80, *:443 and *:9091.
	HTTPAddr  ListenAddr
	HTTPSAddr ListenAddr
	AppIDAddr ListenAddr

	// FrameworkName is the FRAMEWORK_NAME environment variable: the app
	// whose id (without "/") equals it is the load balancer itself and is
	// not routed.
	FrameworkName string
	// Resolve turns a task host that is not an IP literal into an address
	// (Marathon-LB: gethostbyname, cached). Keeping it injectable keeps
	// Build pure; pass a lookup over a snapshot of resolved names. When nil,
	// such servers keep the hostname in Server.HostPort for the data plane
	// to resolve, and their name embeds the hostname instead of the IP. When
	// it returns false, the task is not routed (as in Marathon-LB).
	Resolve func(host string) (netip.Addr, bool)
}

// DefaultFlags returns Marathon-LB v1.15.0's defaults (no group yet).
func DefaultFlags() Flags {
	return Flags{
		BindHTTPHTTPS:        true,
		SSLCerts:             []string{"/etc/ssl/cert.pem"},
		MinServPortIPPerTask: 10050,
		MaxServPortIPPerTask: 10100,
		HTTPAddr:             ListenAddr{Port: 80},
		HTTPSAddr:            ListenAddr{Port: 443},
		AppIDAddr:            ListenAddr{Port: 9091},
	}
}

// DefaultMarathon is Marathon-LB's --marathon default.
const DefaultMarathon = "http://master.mesos:8080"

// CommandLine is everything Marathon-LB's command line says: the routing
// Flags, and the settings of the Marathon connection and of the process
// that ParseArgs drops.
type CommandLine struct {
	Flags Flags
	// Marathon is --marathon/-m (one or more URLs; repeated options add
	// to the list), DefaultMarathon when not given.
	Marathon []string
	// SSE is --sse/-s; Dry is --dry/-d.
	SSE, Dry bool
	// LogLevel is --log-level as given ("" when not given).
	LogLevel string
	// AuthCredentials is --auth-credentials ("user:pass"), CredentialFile
	// --marathon-auth-credential-file, CACert --marathon-ca-cert,
	// DCOSAuthCredentials --dcos-auth-credentials.
	AuthCredentials     string
	CredentialFile      string
	CACert              string
	DCOSAuthCredentials string
	// MaxBackoff is --max-backoff in seconds, 0 when not given.
	MaxBackoff int
	// Help is -h/--help or --longhelp: argparse prints help and exits as
	// soon as it meets one, before checking anything else, and so does
	// ParseCommandLine (the other fields are then incomplete).
	Help bool
	// Process lists the options given that only concern the HAProxy
	// process Marathon-LB manages (--haproxy-config, --command,
	// --reload-interval, ...), in long form, each once, in the order
	// first given.
	Process []string
}

// Option is an extra long option for ParseCommandLine, for a program that
// accepts Marathon-LB's command line plus options of its own. An extra
// option matches only when spelled in full ("--name" or "--name=value"),
// so that it can never make an abbreviation of Marathon-LB's options
// ambiguous.
type Option struct {
	// Name is the long form, "--http-addr".
	Name string
	// Bool options take no value (Set gets ""); others take exactly one.
	Bool bool
	Set  func(value string) error
}

type argKind uint8

const (
	argBool argKind = iota
	argString
	argInt
	argList // nargs="+": one or more values
)

type argSpec struct {
	long  string
	short string
	kind  argKind
	// set applies the value; nil means the option is accepted and its
	// value dropped.
	set func(c *CommandLine, v string) error
	// process marks options that only concern the HAProxy process.
	process bool
}

func setString(p func(c *CommandLine) *string) func(*CommandLine, string) error {
	return func(c *CommandLine, v string) error { *p(c) = v; return nil }
}

// argSpecs is marathon_lb.py's argument parser (v1.15.0, including the
// logging and Marathon-auth arguments it adds from common.py).
var argSpecs = []argSpec{
	{long: "--help", short: "-h", kind: argBool, set: func(c *CommandLine, _ string) error { c.Help = true; return nil }},
	{long: "--longhelp", kind: argBool, set: func(c *CommandLine, _ string) error { c.Help = true; return nil }},
	{long: "--marathon", short: "-m", kind: argList, set: func(c *CommandLine, v string) error {
		c.Marathon = append(c.Marathon, v)
		return nil
	}},
	{long: "--haproxy-config", kind: argString, process: true},
	{long: "--group", kind: argString, set: func(c *CommandLine, v string) error {
		c.Flags.Groups = append(c.Flags.Groups, v)
		return nil
	}},
	{long: "--command", short: "-c", kind: argString, process: true},
	{long: "--max-reload-retries", kind: argInt, process: true},
	{long: "--reload-interval", kind: argInt, process: true},
	{long: "--strict-mode", kind: argBool, set: func(c *CommandLine, _ string) error { c.Flags.StrictMode = true; return nil }},
	{long: "--sse", short: "-s", kind: argBool, set: func(c *CommandLine, _ string) error { c.SSE = true; return nil }},
	{long: "--archive-versions", kind: argInt, process: true},
	{long: "--health-check", short: "-H", kind: argBool, set: func(c *CommandLine, _ string) error { c.Flags.HealthCheck = true; return nil }},
	{long: "--lru-cache-capacity", kind: argInt, process: true},
	{long: "--haproxy-map", kind: argBool, set: func(c *CommandLine, _ string) error { c.Flags.HAProxyMap = true; return nil }},
	{long: "--dont-bind-http-https", kind: argBool, set: func(c *CommandLine, _ string) error { c.Flags.BindHTTPHTTPS = false; return nil }},
	{long: "--group-https-by-vhost", kind: argBool, set: func(c *CommandLine, _ string) error { c.Flags.GroupHTTPSByVhost = true; return nil }},
	{long: "--ssl-certs", kind: argString, set: func(c *CommandLine, v string) error {
		// Marathon-LB: `ssl_certs or "/etc/ssl/cert.pem"`, then split(",").
		if v == "" {
			v = "/etc/ssl/cert.pem"
		}
		c.Flags.SSLCerts = strings.Split(v, ",")
		return nil
	}},
	{long: "--skip-validation", kind: argBool, process: true},
	{long: "--skip-config-cleanup", kind: argBool, process: true},
	{long: "--dry", short: "-d", kind: argBool, set: func(c *CommandLine, _ string) error { c.Dry = true; return nil }},
	{long: "--min-serv-port-ip-per-task", kind: argInt, set: func(c *CommandLine, v string) error {
		n, err := portArg(v)
		c.Flags.MinServPortIPPerTask = n
		return err
	}},
	{long: "--max-serv-port-ip-per-task", kind: argInt, set: func(c *CommandLine, v string) error {
		n, err := portArg(v)
		c.Flags.MaxServPortIPPerTask = n
		return err
	}},
	{long: "--max-backoff", kind: argInt, set: func(c *CommandLine, v string) error {
		n, _ := strconv.Atoi(strings.TrimSpace(v))
		if n <= 0 {
			return fmt.Errorf("%d is not a positive number of seconds", n)
		}
		c.MaxBackoff = n
		return nil
	}},
	{long: "--syslog-socket", kind: argString, process: true},
	{long: "--log-format", kind: argString, process: true},
	{long: "--log-level", kind: argString, set: setString(func(c *CommandLine) *string { return &c.LogLevel })},
	{long: "--marathon-auth-credential-file", kind: argString, set: setString(func(c *CommandLine) *string { return &c.CredentialFile })},
	{long: "--auth-credentials", kind: argString, set: setString(func(c *CommandLine) *string { return &c.AuthCredentials })},
	{long: "--dcos-auth-credentials", kind: argString, set: setString(func(c *CommandLine) *string { return &c.DCOSAuthCredentials })},
	{long: "--marathon-ca-cert", kind: argString, set: setString(func(c *CommandLine) *string { return &c.CACert })},
}

func portArg(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("invalid int value: %q", v)
	}
	if n < 0 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 0-65535", n)
	}
	return n, nil
}

// ParseArgs reads Marathon-LB's command line (one argument per element, as
// in the conformance "args" files) the way its argparse parser does, and
// returns the settings that change routing; see ParseCommandLine.
func ParseArgs(args []string) (Flags, error) {
	c, err := ParseCommandLine(args)
	return c.Flags, err
}

// ParseCommandLine reads Marathon-LB's command line the way its argparse
// parser does: long options as "--name value" or "--name=value",
// unambiguous prefixes of long options, the short forms -h -m -c -s -H -d,
// "--marathon" taking one or more values, plus the extra options given. It
// applies argparse's post-parse checks: --group is required, the
// ip-per-task port range needs both ends (or both 0) and min ≤ max. Errors
// name the offending argument. -h, --help and --longhelp stop parsing
// (CommandLine.Help) without any check, as in argparse.
func ParseCommandLine(args []string, extra ...Option) (CommandLine, error) {
	c := CommandLine{Flags: DefaultFlags()}
	specs := make([]argSpec, 0, len(extra))
	for _, o := range extra {
		kind, set := argString, o.Set
		if o.Bool {
			kind = argBool
		}
		specs = append(specs, argSpec{long: o.Name, kind: kind, set: func(_ *CommandLine, v string) error { return set(v) }})
	}
	seenProcess := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				return c, fmt.Errorf("unrecognized arguments: %s", strings.Join(args[i+1:], " "))
			}
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" || isNegativeNumber(arg) {
			return c, fmt.Errorf("unrecognized argument %q", arg)
		}
		name, value, hasValue := arg, "", false
		if strings.HasPrefix(arg, "--") {
			if eq := strings.IndexByte(arg, '='); eq >= 0 {
				name, value, hasValue = arg[:eq], arg[eq+1:], true
			}
		} else if len(arg) > 2 {
			// "-mhttp://m:8080": a short option with its value attached.
			name, value, hasValue = arg[:2], arg[2:], true
		}
		spec, err := lookupArg(name, specs)
		if err == nil && spec.kind == argBool && hasValue {
			err = fmt.Errorf("argument %s: ignored explicit argument %q", spec.long, value)
		}
		if err != nil {
			if !strings.HasPrefix(arg, "--") && len(arg) > 2 {
				// "-log-level": a Go-style flag, which argparse takes
				// for "-l" with the value "og-level".
				long, _, _ := strings.Cut("-"+arg, "=")
				if s, err2 := lookupArg(long, specs); err2 == nil {
					return c, fmt.Errorf("unrecognized argument %q (did you mean %s?)", arg, s.long)
				}
			}
			return c, err
		}
		var values []string
		switch spec.kind {
		case argBool:
		case argString, argInt:
			if !hasValue {
				if i+1 >= len(args) || isOption(args[i+1]) {
					return c, fmt.Errorf("argument %s: expected one argument", spec.long)
				}
				i++
				value = args[i]
			}
			if spec.kind == argInt {
				if _, err := strconv.Atoi(strings.TrimSpace(value)); err != nil {
					return c, fmt.Errorf("argument %s: invalid int value: %q", spec.long, value)
				}
			}
			values = []string{value}
		case argList:
			if hasValue {
				values = append(values, value)
			}
			for i+1 < len(args) && !isOption(args[i+1]) {
				i++
				values = append(values, args[i])
			}
			if len(values) == 0 {
				return c, fmt.Errorf("argument %s: expected at least one argument", spec.long)
			}
		}
		if spec.process && !seenProcess[spec.long] {
			seenProcess[spec.long] = true
			c.Process = append(c.Process, spec.long)
		}
		if spec.set == nil {
			continue
		}
		if len(values) == 0 {
			values = []string{""}
		}
		for _, v := range values {
			if err := spec.set(&c, v); err != nil {
				return c, fmt.Errorf("argument %s: %w", spec.long, err)
			}
		}
		if c.Help {
			return c, nil
		}
	}
	if len(c.Marathon) == 0 {
		c.Marathon = []string{DefaultMarathon}
	}
	f := &c.Flags
	if len(f.Groups) == 0 {
		return c, fmt.Errorf("argument --group is required: please specify at least one group name")
	}
	if (f.MinServPortIPPerTask == 0) != (f.MaxServPortIPPerTask == 0) {
		return c, fmt.Errorf("either specify both --min-serv-port-ip-per-task and --max-serv-port-ip-per-task or neither (set both to zero to disable auto assignment)")
	}
	if f.MinServPortIPPerTask > f.MaxServPortIPPerTask {
		return c, fmt.Errorf("cannot set --min-serv-port-ip-per-task to a higher value than --max-serv-port-ip-per-task")
	}
	return c, nil
}

// lookupArg finds an option by exact name or, for Marathon-LB's long
// options, by an unambiguous prefix (argparse's allow_abbrev). Extra
// options match only by exact name.
func lookupArg(name string, extra []argSpec) (*argSpec, error) {
	for i := range argSpecs {
		if argSpecs[i].long == name || argSpecs[i].short != "" && argSpecs[i].short == name {
			return &argSpecs[i], nil
		}
	}
	for i := range extra {
		if extra[i].long == name {
			return &extra[i], nil
		}
	}
	if strings.HasPrefix(name, "--") && len(name) > 2 {
		var found []*argSpec
		for i := range argSpecs {
			if strings.HasPrefix(argSpecs[i].long, name) {
				found = append(found, &argSpecs[i])
			}
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			names := make([]string, len(found))
			for i, s := range found {
				names[i] = s.long
			}
			return nil, fmt.Errorf("ambiguous option: %s could match %s", name, strings.Join(names, ", "))
		}
	}
	return nil, fmt.Errorf("unrecognized argument %q", name)
}

// isOption reports whether an argument would be taken as an option rather
// than a value (argparse takes negative numbers as values).
func isOption(a string) bool {
	return strings.HasPrefix(a, "-") && a != "-" && !isNegativeNumber(a)
}

func isNegativeNumber(a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	_, err := strconv.ParseFloat(a[1:], 64)
	return err == nil
}
