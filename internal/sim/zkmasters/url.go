package zkmasters

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// defaultZooKeeperPort is used for hosts given without a port, as the
// ZooKeeper clients do.
const defaultZooKeeperPort = "2181"

// ParseURL splits a Mesos ZooKeeper URL,
// "zk://[user:pass@]host1:2181,host2:2181[/path]", into "host:port" servers
// and the group path, like the --zk flag of a Mesos master. Hosts without a
// port get 2181; a URL without a path gets DefaultPath.
//
// The optional "user:pass@" (digest credentials in Mesos) is accepted and
// ignored: the simulator creates its nodes with open ACLs and never
// authenticates, which is what an unsecured Mesos cluster does.
func ParseURL(s string) (servers []string, path string, err error) {
	fail := func(format string, args ...any) ([]string, string, error) {
		return nil, "", fmt.Errorf("zkmasters: ZooKeeper URL %q: %s", s, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "zk://")
	if !ok {
		if scheme, _, found := strings.Cut(s, "://"); found {
			return fail("scheme is %q, want zk://", scheme)
		}
		return fail("want zk://host:port[,host:port...][/path]")
	}

	// As in Mesos, the path starts at the first '/' and the servers at the
	// last '@' before it.
	hosts, p, hasPath := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(hosts, '@'); i >= 0 {
		hosts = hosts[i+1:]
	}
	if hasPath {
		path = "/" + p
		if err := validatePath(path); err != nil {
			return fail("%v", err)
		}
	} else {
		path = DefaultPath
	}

	if hosts == "" {
		return fail("no ZooKeeper hosts")
	}
	for i, h := range strings.Split(hosts, ",") {
		server, err := parseServer(h)
		if err != nil {
			return fail("host %d (%q): %v", i+1, h, err)
		}
		servers = append(servers, server)
	}
	return servers, path, nil
}

// parseServer checks one "host[:port]" and returns it as "host:port".
func parseServer(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// Without a port: "zk1", "10.0.0.1" or "[::1]".
		switch {
		case len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' && !strings.ContainsAny(h[1:len(h)-1], "[]"):
			host = h[1 : len(h)-1]
		case !strings.ContainsAny(h, ":[]"):
			host = h
		default:
			return "", err
		}
		port = defaultZooKeeperPort
	}
	if host == "" {
		return "", errors.New("empty host name")
	}
	if strings.ContainsAny(host, " \t@/") {
		return "", errors.New("bad host name")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port %q (want 1-65535)", port)
	}
	return net.JoinHostPort(host, port), nil
}

// validatePath checks that path can be a group znode: absolute, not the
// root (Mesos refuses "/" too: masters and log replicas need a znode of their
// own), without empty, "." or ".." components or a trailing '/', and outside
// ZooKeeper's reserved /zookeeper.
func validatePath(path string) error {
	switch {
	case path == "":
		return errors.New("empty path")
	case path[0] != '/':
		return fmt.Errorf("path %q is not absolute", path)
	case path == "/":
		return errors.New(`path "/" is not supported: the masters need a group znode such as /mesos`)
	case strings.HasSuffix(path, "/"):
		return fmt.Errorf("path %q ends with '/'", path)
	case path == "/zookeeper" || strings.HasPrefix(path, "/zookeeper/"):
		return fmt.Errorf("path %q is inside ZooKeeper's reserved /zookeeper", path)
	case strings.ContainsRune(path, 0):
		return fmt.Errorf("path %q contains a NUL", path)
	}
	for _, c := range strings.Split(path[1:], "/") {
		switch c {
		case "":
			return fmt.Errorf("path %q has an empty component", path)
		case ".", "..":
			return fmt.Errorf("path %q has a %q component", path, c)
		}
	}
	return nil
}
