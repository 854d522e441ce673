package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// domainRE is Mesos-DNS's check of "domain" and of every zoneResolvers zone:
// dot-separated labels of letters, digits and dashes, no trailing dot.
var domainRE = regexp.MustCompile(`^[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$`)

// ipSources are the task IP sources Mesos-DNS knows (§4.7).
var ipSources = []string{"host", "docker", "mesos", "netinfo"}

// normalise applies Mesos-DNS's start-up rewrites, which /v1/config shows.
func (p *parser) normalise() {
	c := &p.c
	c.Domain = strings.ToLower(c.Domain)
	c.SOARname = strings.TrimRight(strings.ReplaceAll(c.SOARname, "@", "."), ".") + "."
	c.SOAMname = strings.TrimRight(c.SOAMname, ".") + "."

	// The forwarder treats 0 as 5 s; a negative timeout would fail every
	// forwarded query at once, which nobody means, so it gets 5 s too.
	if c.Timeout < 0 {
		p.warnf(p.keyOf("Timeout"), "%d is negative; using 5 seconds", c.Timeout)
	}
	if c.Timeout <= 0 {
		c.Timeout = 5
	}

	// SOASerial and File are outputs: Mesos-DNS overwrites the serial with
	// the start-up time, and File names the file that was read.
	if k, ok := p.written["SOASerial"]; ok {
		p.warnf(k, "ignored: the SOA serial is the start-up time, then the time of each reload")
	}
	if k, ok := p.written["File"]; ok {
		p.warnf(k, "ignored: File is set to the path of the configuration file")
		c.File = ""
	}
	now := time.Now
	if p.l.Now != nil {
		now = p.l.Now
	}
	c.SOASerial = uint32(now().Unix())
}

// validate checks Mesos-DNS's start-up rules, plus the values on which
// Mesos-DNS starts and then crashes. Each failure is an error naming the key;
// all of them are collected.
func (p *parser) validate() {
	c := &p.c
	if !c.DnsOn && !c.HttpOn {
		p.errorf(p.keyOf("DnsOn"), "%q and %q are both false; at least one server must be on",
			p.keyOf("DnsOn"), p.keyOf("HttpOn"))
	}
	if len(c.Masters) == 0 && c.Zk == "" {
		p.errorf(p.keyOf("Zk"), "neither %q nor %q is set; one of them is required",
			p.keyOf("Zk"), p.keyOf("Masters"))
	}
	p.validateMasters()
	if c.Zk != "" {
		if _, err := ParseZk(c.Zk); err != nil {
			p.errorf(p.keyOf("Zk"), "%v", err)
		}
	}
	if c.ExternalOn {
		p.validateResolvers()
		p.validateZoneResolvers()
	}
	p.validateIPSources()
	if c.StateTimeoutSeconds <= 0 {
		p.errorf(p.keyOf("StateTimeoutSeconds"), "must be > 0, got %d", c.StateTimeoutSeconds)
	}
	// Mesos-DNS starts a ticker with this period, which panics on 0 or less.
	if c.RefreshSeconds <= 0 {
		p.errorf(p.keyOf("RefreshSeconds"), "must be > 0, got %d", c.RefreshSeconds)
	}
	if !domainRE.MatchString(c.Domain) {
		p.errorf(p.keyOf("Domain"), "%q is not a domain name (dot-separated letters, digits and dashes, no trailing dot)", c.Domain)
	}
	// Mesos-DNS builds the A record of SOAMname from the listener and
	// crashes on anything but an IP.
	if net.ParseIP(c.Listener) == nil {
		p.errorf(p.keyOf("Listener"), "%q is not an IP address", c.Listener)
	}
	if c.DnsOn {
		p.checkPort("Port", c.Port)
	}
	if c.HttpOn {
		p.checkPort("HttpPort", c.HttpPort)
	}
	if c.TTL < 0 {
		p.warnf(p.keyOf("TTL"), "%d is negative; resolvers treat such a TTL as 0 (RFC 2181 §8)", c.TTL)
	}
	if c.CertFile != "" && c.KeyFile == "" {
		p.errorf(p.keyOf("CertFile"), "set without %q: a client certificate needs its private key", p.keyOf("KeyFile"))
	}
	if c.CertFile == "" && c.KeyFile != "" {
		p.errorf(p.keyOf("KeyFile"), "set without %q: a private key needs its client certificate", p.keyOf("CertFile"))
	}
	p.validateAuth()
	if c.DnsOn && !strings.HasSuffix("."+c.SOAMname, "."+c.Domain+".") {
		p.warnf(p.keyOf("SOAMname"), "%q is outside domain %q: its A record cannot be queried over DNS", c.SOAMname, c.Domain)
	}
}

// checkPort rejects ports a listener cannot bind (Mesos-DNS exits when the
// bind fails) and warns about 0, which binds a random port.
func (p *parser) checkPort(name string, port int) {
	switch {
	case port < 0 || port > 65535:
		p.errorf(p.keyOf(name), "%d is not a port (0 to 65535)", port)
	case port == 0:
		p.warnf(p.keyOf(name), "0 makes the system pick a random port")
	}
}

// validateMasters normalises every master to "host:port" (IP literals in
// canonical form, IPv6 in brackets, the port in decimal) and rejects
// malformed entries and duplicates. Hostnames are accepted, as in Mesos-DNS.
func (p *parser) validateMasters() {
	key := p.keyOf("Masters")
	if p.c.Masters == nil {
		return
	}
	out := make([]string, 0, len(p.c.Masters))
	seen := map[string]string{}
	for _, m := range p.c.Masters {
		n, err := normalizeMaster(m)
		if err != nil {
			p.errorf(key, "%v", err)
			continue
		}
		if prev, dup := seen[n]; dup {
			p.errorf(key, "%q and %q are the same master", prev, m)
			continue
		}
		seen[n] = m
		out = append(out, n)
	}
	p.c.Masters = out
}

func normalizeMaster(m string) (string, error) {
	host, port, err := net.SplitHostPort(m)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port: %v", m, err)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", m)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	n, ok := parsePort(port)
	if !ok {
		return "", fmt.Errorf("%q: port %q is not 1 to 65535", m, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// parsePort accepts what Mesos-DNS accepts (strconv.Atoi, 1 to 65535).
func parsePort(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 65535
}

// normalizeResolver turns "IP" or "IP:port" into "IP:port" (port 53 by
// default), as Mesos-DNS's forwarder dials them. Hostnames are refused.
func normalizeResolver(r string) (string, error) {
	host, port, err := net.SplitHostPort(r)
	if err != nil {
		host, port = r, "53"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", fmt.Errorf("%q is not an IP address or IP:port", r)
	}
	n, ok := parsePort(port)
	if !ok {
		return "", fmt.Errorf("%q: port %q is not 1 to 65535", r, port)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(n)), nil
}

// normalizeResolvers normalises a list and rejects duplicates.
func normalizeResolvers(rs []string) ([]string, []error) {
	var errs []error
	out := make([]string, 0, len(rs))
	seen := map[string]string{}
	for _, r := range rs {
		n, err := normalizeResolver(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[n]; dup {
			errs = append(errs, fmt.Errorf("%q and %q are the same resolver", prev, r))
			continue
		}
		seen[n] = r
		out = append(out, n)
	}
	return out, errs
}

// validateResolvers normalises "resolvers", or, when the list is explicitly
// empty, takes the nameservers of resolv.conf that are not this host.
func (p *parser) validateResolvers() {
	key := p.keyOf("Resolvers")
	if len(p.c.Resolvers) == 0 {
		p.c.Resolvers = p.systemResolvers(key)
		return
	}
	out, errs := normalizeResolvers(p.c.Resolvers)
	for _, err := range errs {
		p.errorf(key, "%v", err)
	}
	p.c.Resolvers = out
}

// systemResolvers reads the nameservers of resolv.conf like Mesos-DNS
// (miekg/dns's reader: every "nameserver X" line), minus this host's own
// addresses, which would make Signpost forward to itself. Mesos-DNS exits on
// an entry it cannot use (an IPv6 address with a %zone, a duplicate); an
// operator may not control that file, so such entries are skipped with a
// warning instead.
func (p *parser) systemResolvers(key string) []string {
	path := p.l.ResolvConf
	if path == "" {
		path = "/etc/resolv.conf"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		p.errorf(key, "empty, so the nameservers of %s are used, but it cannot be read: %v", path, unwrapPath(err))
		return nil
	}
	local, err := p.localAddrs()
	if err != nil {
		p.warnf(key, "cannot list this host's addresses (%v); no nameserver of %s is dropped as local", err, path)
	}
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		n, err := normalizeResolver(f[1])
		if err != nil {
			p.warnf(key, "%s: nameserver skipped: %v", path, err)
			continue
		}
		host, _, _ := net.SplitHostPort(n)
		if a, err := netip.ParseAddr(host); err == nil && slices.Contains(local, a.Unmap()) {
			continue
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	if len(out) == 0 {
		p.warnf(key, "empty, and %s lists no nameserver other than this host: names outside the domain will be refused", path)
	}
	return out
}

func unwrapPath(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// localAddrs returns this host's addresses, unmapped for comparison.
func (p *parser) localAddrs() ([]netip.Addr, error) {
	if p.l.LocalAddrs != nil {
		addrs, err := p.l.LocalAddrs()
		out := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			out[i] = a.Unmap()
		}
		return out, err
	}
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range ifAddrs {
		// "10.0.0.1/24" from an *net.IPNet, "10.0.0.1" from an *net.IPAddr.
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, pfx.Addr().Unmap())
		} else if ip, err := netip.ParseAddr(a.String()); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// validateZoneResolvers checks "zoneResolvers" like Mesos-DNS: every zone
// has a non-empty list of unique IP[:port] resolvers and is a valid domain
// name, no zone is the Mesos domain, and no zone (nor the Mesos domain) is
// inside another, since the longer one would silently take part of the
// shorter one's names. Zones are compared without case, as DNS and the
// handler dispatch compare them, and stored lower-case.
func (p *parser) validateZoneResolvers() {
	key := p.keyOf("ZoneResolvers")
	zr := p.c.ZoneResolvers
	if zr == nil {
		return
	}
	out := make(map[string][]string, len(zr))
	written := map[string]string{} // lower-case zone → as written
	domain := p.c.Domain
	for _, zone := range sortedKeys(zr) {
		lz := strings.ToLower(zone)
		if len(zr[zone]) == 0 {
			p.errorf(key, "zone %q has no resolvers", zone)
			continue
		}
		if !domainRE.MatchString(zone) {
			p.errorf(key, "zone %q is not a domain name (dot-separated letters, digits and dashes, no trailing dot)", zone)
			continue
		}
		if lz == domain {
			p.errorf(key, "zone %q is the Mesos domain, which Signpost answers itself", zone)
			continue
		}
		if prev, dup := written[lz]; dup {
			p.errorf(key, "zones %q and %q are the same zone", prev, zone)
			continue
		}
		rs, errs := normalizeResolvers(zr[zone])
		for _, err := range errs {
			p.errorf(key, "zone %q: %v", zone, err)
		}
		written[lz] = zone
		out[lz] = rs
	}
	// Ambiguity: ".a.b" ends with ".b" exactly when zone a.b is inside b.
	zones := sortedKeys(written)
	for _, a := range zones {
		if strings.HasSuffix("."+domain, "."+a) {
			p.errorf(key, "zone %q contains the Mesos domain %q", written[a], domain)
		}
		if strings.HasSuffix("."+a, "."+domain) {
			p.errorf(key, "zone %q is inside the Mesos domain %q", written[a], domain)
		}
		for _, b := range zones {
			if a != b && strings.HasSuffix("."+a, "."+b) {
				p.errorf(key, "zone %q is inside zone %q", written[a], written[b])
			}
		}
	}
	p.c.ZoneResolvers = out
}

// validateIPSources: non-empty, unique, each one Mesos-DNS knows
// (case-sensitive, as there).
func (p *parser) validateIPSources() {
	key := p.keyOf("IPSources")
	if len(p.c.IPSources) == 0 {
		p.errorf(key, "empty: at least one of host, docker, mesos, netinfo is needed")
		return
	}
	seen := map[string]bool{}
	for _, s := range p.c.IPSources {
		switch {
		case !slices.Contains(ipSources, s):
			p.errorf(key, "%q is not an IP source (want host, docker, mesos or netinfo)", s)
		case seen[s]:
			p.errorf(key, "%q is listed twice", s)
		}
		seen[s] = true
	}
}

// validateAuth checks MesosAuthentication and what each mechanism needs, as
// Mesos-DNS's httpcli.Validate does at start-up: "basic" needs credentials,
// "iam" needs IAMConfigFile. (The IAM file's content and the certificate
// files are read by whoever builds the HTTP client, as Mesos-DNS reads them
// at start-up.) Settings that the chosen mechanism ignores get the warnings
// Mesos-DNS logs.
func (p *parser) validateAuth() {
	c := &p.c
	key := p.keyOf("MesosAuthentication")
	switch c.MesosAuthentication {
	case "":
		if c.MesosCredentials.Principal != "" {
			p.warnf(p.keyOf("MesosCredentials"), "set, but %q is empty (no authentication): probably not intended", key)
		}
		if c.IAMConfigFile != "" {
			p.warnf(p.keyOf("IAMConfigFile"), "set, but %q is empty (no authentication): probably not intended", key)
		}
	case "basic":
		if c.MesosCredentials == (Credentials{}) {
			p.errorf(p.keyOf("MesosCredentials"), "empty, but %q is \"basic\": set principal and secret", key)
		}
	case "iam":
		if c.IAMConfigFile == "" {
			p.errorf(p.keyOf("IAMConfigFile"), "empty, but %q is \"iam\": name the file with uid, private_key and login_endpoint", key)
		}
	default:
		hint := ""
		for _, m := range []string{"basic", "iam"} {
			if strings.EqualFold(c.MesosAuthentication, m) {
				hint = fmt.Sprintf(" (names are case-sensitive: %q)", m)
			}
		}
		p.errorf(key, "%q is not an authentication mechanism (want \"\", \"basic\" or \"iam\")%s", c.MesosAuthentication, hint)
	}
}

// ZkSpec is a parsed "zk" value: the master detector specification of
// mesos-go, which Mesos-DNS uses (§2.1).
type ZkSpec struct {
	// Kind is "zk" (ZooKeeper), "file" (the spec is in a file) or "static"
	// (one fixed master, no ZooKeeper).
	Kind string
	// Servers are the ZooKeeper servers, "host:port", 2181 when the URL gives
	// no port (Kind "zk").
	Servers []string
	// Path is the group znode, e.g. "/mesos", without a trailing '/'
	// (Kind "zk").
	Path string
	// File is the file holding another spec (Kind "file"). It is read when
	// detection starts, as mesos-go does, not here.
	File string
	// Master is the fixed master, "host:port" (Kind "static").
	Master string
}

// ParseZk checks a "zk" value against the forms the mesos-go detector
// accepts:
//
//   - zk://[user:password@]host[:port][,host[:port]...]/path — the userinfo
//     is ignored, a missing port is 2181, a trailing '/' is dropped (the
//     Mesos-DNS documentation writes "zk://.../mesos/");
//   - file://path — a file whose content is one of these forms;
//   - host:port, or id@host:port (a libprocess PID such as
//     master@10.0.0.1:5050) — one static master.
//
// The scheme is case-sensitive, as mesos-go matches "zk://" literally.
// Hostnames are not resolved here.
func ParseZk(spec string) (ZkSpec, error) {
	if rest, ok := strings.CutPrefix(spec, "zk://"); ok {
		return parseZkURL(rest)
	}
	if rest, ok := strings.CutPrefix(spec, "file://"); ok {
		if rest == "" {
			return ZkSpec{}, errors.New(`"file://" names no file`)
		}
		return ZkSpec{Kind: "file", File: rest}, nil
	}
	if scheme, _, ok := strings.Cut(spec, "://"); ok {
		return ZkSpec{}, fmt.Errorf("%q: scheme %q is not zk:// or file:// (schemes are case-sensitive)", spec, scheme+"://")
	}
	addr := spec
	if strings.Count(spec, "@") > 1 {
		return ZkSpec{}, fmt.Errorf("%q: want zk://host:port/path, host:port or id@host:port", spec)
	}
	if _, a, ok := strings.Cut(spec, "@"); ok {
		addr = a
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || strings.ContainsAny(host, " \t/") {
		return ZkSpec{}, fmt.Errorf("%q: want zk://host:port/path, host:port or id@host:port", spec)
	}
	n, ok := parsePort(port)
	if !ok {
		return ZkSpec{}, fmt.Errorf("%q: port %q is not 1 to 65535", spec, port)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return ZkSpec{Kind: "static", Master: net.JoinHostPort(host, strconv.Itoa(n))}, nil
}

// parseZkURL parses what follows "zk://".
func parseZkURL(rest string) (ZkSpec, error) {
	hosts, path, hasPath := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		hosts = hosts[at+1:] // credentials: ignored, like Mesos-DNS
	}
	if hosts == "" {
		return ZkSpec{}, errors.New(`"zk://" URL has no ZooKeeper host (want zk://host:port/path)`)
	}
	path = strings.TrimRight(path, "/")
	if !hasPath || path == "" {
		return ZkSpec{}, errors.New("zk:// URL has no znode path (want zk://host:port/mesos)")
	}
	path = "/" + path
	for _, c := range strings.Split(path[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return ZkSpec{}, fmt.Errorf("znode path %q is malformed", path)
		}
	}
	if strings.ContainsAny(path, " \t?#") {
		return ZkSpec{}, fmt.Errorf("znode path %q is malformed", path)
	}
	spec := ZkSpec{Kind: "zk", Path: path}
	for _, h := range strings.Split(hosts, ",") {
		s, err := zkServer(h)
		if err != nil {
			return ZkSpec{}, err
		}
		spec.Servers = append(spec.Servers, s)
	}
	return spec, nil
}

// zkServer checks one "host[:port]" of a zk:// URL.
func zkServer(h string) (string, error) {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		switch {
		case len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']':
			host = h[1 : len(h)-1]
		case !strings.ContainsAny(h, ":[]"):
			host = h
		default:
			return "", fmt.Errorf("ZooKeeper server %q is not host[:port]", h)
		}
		port = "2181"
	}
	if host == "" || strings.ContainsAny(host, " \t[]@") {
		return "", fmt.Errorf("ZooKeeper server %q has no valid host", h)
	}
	n, ok := parsePort(port)
	if !ok {
		return "", fmt.Errorf("ZooKeeper server %q: port %q is not 1 to 65535", h, port)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}
