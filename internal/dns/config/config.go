// Package config reads the config.json of `signpost dns`.
//
// `signpost dns` replaces Mesos-DNS in place, so it must accept every
// config.json a Mesos-DNS installation already has, with the same meaning:
// the same keys (matched case-insensitively, as Go's encoding/json does for
// Mesos-DNS), the same code defaults, the same normalisation and the same
// start-up validation (../shared/spec/mesos-dns.md §7). Where Mesos-DNS would
// start and then crash on a value (refreshSeconds 0, a non-IP listener), the
// value is rejected here instead, with the same outcome (the process does not
// run) and a message naming the key.
//
// Two things differ on purpose: unknown keys and other oddities Mesos-DNS
// silently ignores are reported as warnings, so typos are visible; and
// secrets never appear in /v1/config (see Config.Public).
package config

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Redacted replaces a non-empty secret wherever a Config is shown (the
// /v1/config endpoint, JSON, fmt). It is the mask Mesos-DNS itself uses when
// it logs basic credentials. An empty secret stays empty, so an operator can
// still tell "not configured" from "configured".
const Redacted = "******"

// Config is the effective configuration of `signpost dns`.
//
// The field names, their order and their JSON form are those of Mesos-DNS's
// Go struct, because /v1/config serves this struct and existing clients read
// those names. That is why HttpPort, DnsOn and HttpOn are spelled as Mesos-DNS
// spells them in JSON rather than in Go style.
//
// After Parse, the values are normalised: Domain is lower-case, SOAMname and
// SOARname end with a dot, Masters and (when ExternalOn) Resolvers and
// ZoneResolvers are "host:port" strings, Timeout is positive and SOASerial is
// the start-up time.
type Config struct {
	// RefreshSeconds is the period between two state reloads (config key
	// "refreshSeconds", default 60). Always > 0 after Parse.
	RefreshSeconds int
	// Port is the DNS port for UDP and TCP ("port", default 53).
	Port int
	// Timeout is the forwarder's dial/read/write timeout in seconds
	// ("timeout", default 5; 0 means 5).
	Timeout int
	// StateTimeoutSeconds bounds one fetch of /master/state
	// ("stateTimeoutSeconds", default 300, must be > 0).
	StateTimeoutSeconds int
	// ZkDetectionTimeout is how long, in seconds, ZooKeeper may report no
	// leader before the process exits ("zkDetectionTimeout", default 30;
	// 0 or less never exits).
	ZkDetectionTimeout int
	// HttpPort is the HTTP API port ("httpport", default 8123).
	HttpPort int
	// TTL is the TTL of every record and the SOA minimum ("ttl", default 60).
	TTL int32
	// SRVRecordDefaultWeight is the weight of every SRV record
	// ("srvRecordDefaultWeight", default 1).
	SRVRecordDefaultWeight uint16
	// SOASerial is the initial SOA serial: always the start-up time, whatever
	// the file says, as in Mesos-DNS.
	SOASerial uint32
	// SOARefresh, SOARetry and SOAExpire go into the SOA record
	// (defaults 60, 600, 86400).
	SOARefresh uint32
	SOARetry   uint32
	SOAExpire  uint32
	// SOAMinttl is read and shown but, as in Mesos-DNS, the SOA minimum is TTL
	// (default 60).
	SOAMinttl uint32
	// SOAMname is the primary name server, a FQDN with a trailing dot
	// (default "ns1.mesos").
	SOAMname string
	// SOARname is the zone contact, a FQDN with a trailing dot, "@" written as
	// "." (default "root.ns1.mesos").
	SOARname string
	// Masters are the statically known masters, "host:port", in order; the
	// first is the presumed leader when Zk is empty. Unique after
	// normalisation. nil when not configured (shown as null, like Mesos-DNS).
	Masters []string
	// ZoneResolvers maps a zone (lower-case, no trailing dot) to the resolvers
	// ("ip:port") that answer for it.
	ZoneResolvers map[string][]string
	// Resolvers are the upstream resolvers for names outside Domain,
	// "ip:port" in order (default ["8.8.8.8"]; an explicitly empty list means
	// the nameservers of /etc/resolv.conf that are not this host). When
	// ExternalOn is false they are unused, so, as in Mesos-DNS, they are
	// neither validated nor normalised.
	Resolvers []string
	// IPSources is the ordered list of task IP sources, a non-empty subset of
	// host, docker, mesos and netinfo (default ["netinfo","mesos","host"]).
	IPSources []string
	// Zk is the master detector spec: "zk://host:port[,host:port]/path",
	// "file://path", "host:port" or "id@host:port" (see ParseZk).
	Zk string
	// Domain is the authoritative domain, lower-case, without trailing dot
	// (default "mesos").
	Domain string
	// File is the absolute path of the configuration file (set by Load).
	File string
	// Listener is the DNS bind IP (default "0.0.0.0"); it also decides the
	// addresses of SOAMname's A/AAAA record.
	Listener string
	// HTTPListener is the HTTP bind address (default "0.0.0.0").
	HTTPListener string
	// RecurseOn sets RA on authoritative replies (default true).
	RecurseOn bool
	// DnsOn and HttpOn enable the DNS and HTTP servers (default true; at
	// least one must be on).
	DnsOn  bool
	HttpOn bool
	// ExternalOn enables forwarding of names outside Domain (default true).
	ExternalOn bool
	// EnforceRFC952 selects the stricter label rules (default false).
	EnforceRFC952 bool
	// SetTruncateBit sets TC on truncated replies (default true).
	SetTruncateBit bool
	// EnumerationOn enables /v1/enumerate and /v1/axfr (default true).
	EnumerationOn bool
	// MesosHTTPSOn talks HTTPS to the masters (default false).
	MesosHTTPSOn bool
	// CACertFile verifies the masters' certificates; CertFile and KeyFile are
	// a client certificate, both or neither.
	CACertFile string
	CertFile   string
	KeyFile    string
	// MesosCredentials are used when MesosAuthentication is "basic".
	MesosCredentials Credentials
	// IAMConfigFile is the JSON file with uid, private_key and login_endpoint
	// used when MesosAuthentication is "iam".
	IAMConfigFile string
	// MesosAuthentication is "", "basic" or "iam" (case-sensitive, as in
	// Mesos-DNS).
	MesosAuthentication string

	// HealthFilter (Signpost's key "healthFilter", default true) withholds
	// records from tasks whose latest health check failed. Mesos-DNS ignores
	// health (its issue #310), so clients were sent to failing tasks.
	HealthFilter bool
	// PTROn (Signpost's key "ptrOn", default true) answers PTR queries for the
	// task and agent IPs Signpost knows. Mesos-DNS answers none.
	PTROn bool
}

// Credentials are HTTP Basic credentials for the Mesos masters. They never
// print their secret: String, GoString and MarshalJSON show Redacted instead,
// so a stray log line or debug dump cannot leak it. Read the Secret field
// directly to use it.
type Credentials struct {
	Principal string
	Secret    string
}

// redacted returns c with a non-empty Secret masked.
func (c Credentials) redacted() Credentials {
	if c.Secret != "" {
		c.Secret = Redacted
	}
	return c
}

// String shows the principal and a masked secret.
func (c Credentials) String() string {
	r := c.redacted()
	return "{" + r.Principal + " " + r.Secret + "}"
}

// GoString keeps %#v from printing the secret.
func (c Credentials) GoString() string {
	r := c.redacted()
	return "config.Credentials{Principal:" + quote(r.Principal) + ", Secret:" + quote(r.Secret) + "}"
}

// MarshalJSON writes {"Principal":...,"Secret":...} with the secret masked.
func (c Credentials) MarshalJSON() ([]byte, error) {
	type plain Credentials // without methods, so no recursion
	return json.Marshal(plain(c.redacted()))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Defaults returns Mesos-DNS's code defaults (records.NewConfig), plus
// Signpost's own keys. These are the values before normalisation
// ("ns1.mesos", not "ns1.mesos."; "8.8.8.8", not "8.8.8.8:53"): Parse starts
// from them, overlays the file and then normalises. They are not the values
// of the shipped config.json.sample, which sets port 8053 and
// IPSources ["mesos","host"].
func Defaults() Config {
	return Config{
		RefreshSeconds:         60,
		Port:                   53,
		Timeout:                5,
		StateTimeoutSeconds:    300,
		ZkDetectionTimeout:     30,
		HttpPort:               8123,
		TTL:                    60,
		SRVRecordDefaultWeight: 1,
		SOARefresh:             60,
		SOARetry:               600,
		SOAExpire:              86400,
		SOAMinttl:              60,
		SOAMname:               "ns1.mesos",
		SOARname:               "root.ns1.mesos",
		ZoneResolvers:          map[string][]string{},
		Resolvers:              []string{"8.8.8.8"},
		IPSources:              []string{"netinfo", "mesos", "host"},
		Domain:                 "mesos",
		Listener:               "0.0.0.0",
		HTTPListener:           "0.0.0.0",
		RecurseOn:              true,
		DnsOn:                  true,
		HttpOn:                 true,
		ExternalOn:             true,
		SetTruncateBit:         true,
		EnumerationOn:          true,
		HealthFilter:           true,
		PTROn:                  true,
	}
}

// Clone returns a deep copy, so that a caller can hand the configuration to
// another goroutine or an HTTP handler without sharing slices or maps.
func (c Config) Clone() Config {
	c.Masters = slices.Clone(c.Masters)
	c.Resolvers = slices.Clone(c.Resolvers)
	c.IPSources = slices.Clone(c.IPSources)
	if c.ZoneResolvers != nil {
		zr := make(map[string][]string, len(c.ZoneResolvers))
		for z, rs := range maps.All(c.ZoneResolvers) {
			zr[z] = slices.Clone(rs)
		}
		c.ZoneResolvers = zr
	}
	return c
}

// Public returns the configuration as /v1/config shows it: Mesos-DNS's
// shape and field names, with every secret masked. Mesos-DNS serves
// MesosCredentials.Secret in clear text to anyone who can reach its HTTP port;
// here a non-empty Secret reads Redacted (an empty one stays ""), and so does
// the password of a "zk://user:password@..." URL. The result is a deep copy
// and is meant only for display: it cannot authenticate.
func (c Config) Public() Config {
	p := c.Clone()
	p.MesosCredentials = p.MesosCredentials.redacted()
	p.Zk = redactZk(p.Zk)
	return p
}

// MarshalJSON writes the Public form, so that marshalling a Config anywhere
// (a debug endpoint, a log line) cannot leak a secret either.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // without methods, so no recursion
	return json.Marshal(plain(c.Public()))
}

// redactZk masks the password of the userinfo in a zk:// URL, which
// Mesos-DNS ignores but would show. Other detector specs carry no secret.
func redactZk(zk string) string {
	rest, ok := strings.CutPrefix(zk, "zk://")
	if !ok {
		return zk
	}
	hosts, path, hasPath := strings.Cut(rest, "/")
	at := strings.LastIndexByte(hosts, '@')
	if at < 0 {
		return zk
	}
	user, _, hasPassword := strings.Cut(hosts[:at], ":")
	if !hasPassword {
		return zk
	}
	out := "zk://" + user + ":" + Redacted + hosts[at:]
	if hasPath {
		out += "/" + path
	}
	return out
}
