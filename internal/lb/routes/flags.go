package routes

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Flags are the Marathon-LB settings that change routing, with Marathon-LB's
// defaults (DefaultFlags). Flags that only concern HAProxy's process, the
// Marathon connection or logging are accepted by ParseArgs and dropped.
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
	// set applies the value; nil means the flag is accepted and ignored
	// because it does not affect routing.
	set func(f *Flags, v string) error
}

// argSpecs is marathon_lb.py's argument parser (v1.15.0, including the
// logging and Marathon-auth arguments it adds from common.py).
var argSpecs = []argSpec{
	{long: "--longhelp", kind: argBool},
	{long: "--marathon", short: "-m", kind: argList},
	{long: "--haproxy-config", kind: argString},
	{long: "--group", kind: argString, set: func(f *Flags, v string) error {
		f.Groups = append(f.Groups, v)
		return nil
	}},
	{long: "--command", short: "-c", kind: argString},
	{long: "--max-reload-retries", kind: argInt},
	{long: "--reload-interval", kind: argInt},
	{long: "--strict-mode", kind: argBool, set: func(f *Flags, _ string) error { f.StrictMode = true; return nil }},
	{long: "--sse", short: "-s", kind: argBool},
	{long: "--archive-versions", kind: argInt},
	{long: "--health-check", short: "-H", kind: argBool, set: func(f *Flags, _ string) error { f.HealthCheck = true; return nil }},
	{long: "--lru-cache-capacity", kind: argInt},
	{long: "--haproxy-map", kind: argBool, set: func(f *Flags, _ string) error { f.HAProxyMap = true; return nil }},
	{long: "--dont-bind-http-https", kind: argBool, set: func(f *Flags, _ string) error { f.BindHTTPHTTPS = false; return nil }},
	{long: "--group-https-by-vhost", kind: argBool, set: func(f *Flags, _ string) error { f.GroupHTTPSByVhost = true; return nil }},
	{long: "--ssl-certs", kind: argString, set: func(f *Flags, v string) error {
		// Marathon-LB: `ssl_certs or "/etc/ssl/cert.pem"`, then split(",").
		if v == "" {
			v = "/etc/ssl/cert.pem"
		}
		f.SSLCerts = strings.Split(v, ",")
		return nil
	}},
	{long: "--skip-validation", kind: argBool},
	{long: "--skip-config-cleanup", kind: argBool},
	{long: "--dry", short: "-d", kind: argBool},
	{long: "--min-serv-port-ip-per-task", kind: argInt, set: func(f *Flags, v string) error {
		n, err := portArg(v)
		f.MinServPortIPPerTask = n
		return err
	}},
	{long: "--max-serv-port-ip-per-task", kind: argInt, set: func(f *Flags, v string) error {
		n, err := portArg(v)
		f.MaxServPortIPPerTask = n
		return err
	}},
	{long: "--max-backoff", kind: argInt},
	{long: "--syslog-socket", kind: argString},
	{long: "--log-format", kind: argString},
	{long: "--log-level", kind: argString},
	{long: "--marathon-auth-credential-file", kind: argString},
	{long: "--auth-credentials", kind: argString},
	{long: "--dcos-auth-credentials", kind: argString},
	{long: "--marathon-ca-cert", kind: argString},
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
// in the conformance "args" files) the way its argparse parser does: long
// options as "--name value" or "--name=value", unambiguous prefixes of long
// options, the short forms -m -c -s -H -d, "--marathon" taking one or more
// values. It applies argparse's post-parse checks: --group is required, the
// ip-per-task port range needs both ends (or both 0) and min ≤ max. Errors
// name the offending argument.
func ParseArgs(args []string) (Flags, error) {
	f := DefaultFlags()
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				return f, fmt.Errorf("unrecognized arguments: %s", strings.Join(args[i+1:], " "))
			}
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" || isNegativeNumber(arg) {
			return f, fmt.Errorf("unrecognized argument %q", arg)
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
		spec, err := lookupArg(name)
		if err != nil {
			return f, err
		}
		var values []string
		switch spec.kind {
		case argBool:
			if hasValue {
				return f, fmt.Errorf("argument %s: ignored explicit argument %q", spec.long, value)
			}
		case argString, argInt:
			if !hasValue {
				if i+1 >= len(args) || isOption(args[i+1]) {
					return f, fmt.Errorf("argument %s: expected one argument", spec.long)
				}
				i++
				value = args[i]
			}
			if spec.kind == argInt {
				if _, err := strconv.Atoi(strings.TrimSpace(value)); err != nil {
					return f, fmt.Errorf("argument %s: invalid int value: %q", spec.long, value)
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
				return f, fmt.Errorf("argument %s: expected at least one argument", spec.long)
			}
		}
		if spec.set == nil {
			continue
		}
		if len(values) == 0 {
			values = []string{""}
		}
		for _, v := range values {
			if err := spec.set(&f, v); err != nil {
				return f, fmt.Errorf("argument %s: %w", spec.long, err)
			}
		}
	}
	if len(f.Groups) == 0 {
		return f, fmt.Errorf("argument --group is required: please specify at least one group name")
	}
	if (f.MinServPortIPPerTask == 0) != (f.MaxServPortIPPerTask == 0) {
		return f, fmt.Errorf("either specify both --min-serv-port-ip-per-task and --max-serv-port-ip-per-task or neither (set both to zero to disable auto assignment)")
	}
	if f.MinServPortIPPerTask > f.MaxServPortIPPerTask {
		return f, fmt.Errorf("cannot set --min-serv-port-ip-per-task to a higher value than --max-serv-port-ip-per-task")
	}
	return f, nil
}

// lookupArg finds an option by exact name or, for long options, by an
// unambiguous prefix (argparse's allow_abbrev).
func lookupArg(name string) (*argSpec, error) {
	for i := range argSpecs {
		if argSpecs[i].long == name || argSpecs[i].short != "" && argSpecs[i].short == name {
			return &argSpecs[i], nil
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
