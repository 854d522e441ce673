package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// startup is the fixed clock of the tests: SOASerial is the start-up time.
var startup = time.Unix(1700000000, 0)

// testLoader never touches the machine: resolv.conf is a file of the test
// (default: one that does not exist, so that an unexpected read fails),
// this host is 192.168.1.1 and ::1, $HOME is unset.
func testLoader(t *testing.T) Loader {
	return Loader{
		ResolvConf: filepath.Join(t.TempDir(), "no-resolv.conf"),
		LocalAddrs: func() ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("::1")}, nil
		},
		Getenv: func(string) string { return "" },
		Now:    func() time.Time { return startup },
	}
}

func TestDefaultsAreMesosDNSCodeDefaults(t *testing.T) {
	want := Config{
		RefreshSeconds: 60, Port: 53, Timeout: 5, StateTimeoutSeconds: 300, ZkDetectionTimeout: 30,
		HttpPort: 8123, TTL: 60, SRVRecordDefaultWeight: 1,
		SOARefresh: 60, SOARetry: 600, SOAExpire: 86400, SOAMinttl: 60,
		SOAMname: "ns1.mesos", SOARname: "root.ns1.mesos",
		ZoneResolvers: map[string][]string{}, Resolvers: []string{"8.8.8.8"},
		IPSources: []string{"netinfo", "mesos", "host"},
		Domain:    "mesos", Listener: "0.0.0.0", HTTPListener: "0.0.0.0",
		RecurseOn: true, DnsOn: true, HttpOn: true, ExternalOn: true, SetTruncateBit: true, EnumerationOn: true,
		HealthFilter: true, PTROn: true,
	}
	if got := Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("Defaults() =\n%+v\nwant\n%+v", got, want)
	}
	// Defaults must hand out fresh slices and maps.
	a := Defaults()
	a.Resolvers[0] = "x"
	a.ZoneResolvers["z"] = nil
	if b := Defaults(); b.Resolvers[0] != "8.8.8.8" || len(b.ZoneResolvers) != 0 {
		t.Error("Defaults() shares state between calls")
	}
}

// TestEffectiveDefaults parses the smallest valid file: every other value is
// the default, normalised as Mesos-DNS does at start-up.
func TestEffectiveDefaults(t *testing.T) {
	got, warnings, err := testLoader(t).Parse([]byte(`{"zk": "zk://10.0.0.1:2181/mesos"}`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v, warnings %q", err, warnings)
	}
	want := Defaults()
	want.Zk = "zk://10.0.0.1:2181/mesos"
	want.SOAMname = "ns1.mesos."
	want.SOARname = "root.ns1.mesos."
	want.Resolvers = []string{"8.8.8.8:53"}
	want.SOASerial = uint32(startup.Unix())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

// TestEveryKey sets each key of the spec's table (and Signpost's own) to a
// non-default value, in the spellings configurations use, and checks that
// exactly the matching field changes. It also checks that together the rows
// change every field of Config.
func TestEveryKey(t *testing.T) {
	type row struct {
		json     string // members added to a minimal valid file
		want     func(c *Config)
		wantWarn string // a warning that must appear; otherwise none may
	}
	rows := []row{
		{`"zk": "zk://u:p@zk1:2181,zk2/mesos"`, func(c *Config) { c.Zk = "zk://u:p@zk1:2181,zk2/mesos" }, ""},
		{`"Zk": "master@10.0.0.9:5050"`, func(c *Config) { c.Zk = "master@10.0.0.9:5050" }, ""},
		{`"masters": ["10.0.0.2:5050", "10.0.0.3:5051"]`, func(c *Config) { c.Masters = []string{"10.0.0.2:5050", "10.0.0.3:5051"} }, ""},
		{`"Masters": ["[2001:DB8::1]:5050", "m1.example:05050"]`, func(c *Config) { c.Masters = []string{"[2001:db8::1]:5050", "m1.example:5050"} }, ""},
		{`"zkDetectionTimeout": 0`, func(c *Config) { c.ZkDetectionTimeout = 0 }, ""},
		{`"ZKDETECTIONTIMEOUT": 45`, func(c *Config) { c.ZkDetectionTimeout = 45 }, ""},
		{`"refreshSeconds": 30`, func(c *Config) { c.RefreshSeconds = 30 }, ""},
		{`"RefreshSeconds": 31`, func(c *Config) { c.RefreshSeconds = 31 }, ""},
		{`"stateTimeoutSeconds": 10`, func(c *Config) { c.StateTimeoutSeconds = 10 }, ""},
		{`"ttl": 7`, func(c *Config) { c.TTL = 7 }, ""},
		{`"TTL": 2147483647`, func(c *Config) { c.TTL = 2147483647 }, ""},
		{`"domain": "Example.COM", "SOAMname": "ns1.example.com"`, func(c *Config) { c.Domain = "example.com"; c.SOAMname = "ns1.example.com." }, ""},
		{`"domain": "dcos"`, func(c *Config) { c.Domain = "dcos" }, "outside domain"},
		{`"port": 8053`, func(c *Config) { c.Port = 8053 }, ""},
		{`"Port": 5353`, func(c *Config) { c.Port = 5353 }, ""},
		{`"listener": "10.0.0.5"`, func(c *Config) { c.Listener = "10.0.0.5" }, ""},
		{`"Listener": "::"`, func(c *Config) { c.Listener = "::" }, ""},
		{`"httplistener": "127.0.0.1"`, func(c *Config) { c.HTTPListener = "127.0.0.1" }, ""},
		{`"HTTPListener": "10.0.0.6"`, func(c *Config) { c.HTTPListener = "10.0.0.6" }, ""},
		{`"httpport": 9000`, func(c *Config) { c.HttpPort = 9000 }, ""},
		{`"HttpPort": 9001`, func(c *Config) { c.HttpPort = 9001 }, ""},
		{`"HTTPPort": 9002`, func(c *Config) { c.HttpPort = 9002 }, ""},
		{`"httpPort": 9003`, func(c *Config) { c.HttpPort = 9003 }, ""},
		{`"dnson": false`, func(c *Config) { c.DnsOn = false }, ""},
		{`"DnsOn": false`, func(c *Config) { c.DnsOn = false }, ""},
		{`"DNSOn": false`, func(c *Config) { c.DnsOn = false }, ""},
		{`"httpon": false`, func(c *Config) { c.HttpOn = false }, ""},
		{`"HttpOn": false`, func(c *Config) { c.HttpOn = false }, ""},
		{`"externalon": false`, func(c *Config) { c.ExternalOn = false; c.Resolvers = []string{"8.8.8.8"} }, ""},
		{`"ExternalOn": false, "resolvers": ["not validated"]`, func(c *Config) { c.ExternalOn = false; c.Resolvers = []string{"not validated"} }, ""},
		{`"resolvers": ["1.1.1.1", "9.9.9.9:5353", "2001:DB8::53", "[2001:db8::54]:53"]`, func(c *Config) {
			c.Resolvers = []string{"1.1.1.1:53", "9.9.9.9:5353", "[2001:db8::53]:53", "[2001:db8::54]:53"}
		}, ""},
		{`"Resolvers": ["::ffff:10.0.0.53"]`, func(c *Config) { c.Resolvers = []string{"10.0.0.53:53"} }, ""},
		{`"zoneResolvers": {"Consul": ["10.0.0.9"], "example.org": ["10.0.0.10:5353", "10.0.0.11"]}`, func(c *Config) {
			c.ZoneResolvers = map[string][]string{"consul": {"10.0.0.9:53"}, "example.org": {"10.0.0.10:5353", "10.0.0.11:53"}}
		}, ""},
		{`"ZoneResolvers": {"xmesos": ["10.0.0.9"]}`, func(c *Config) { c.ZoneResolvers = map[string][]string{"xmesos": {"10.0.0.9:53"}} }, ""},
		{`"timeout": 9`, func(c *Config) { c.Timeout = 9 }, ""},
		{`"timeout": 0`, func(c *Config) { c.Timeout = 5 }, ""},
		{`"Timeout": -3`, func(c *Config) { c.Timeout = 5 }, "negative"},
		{`"recurseon": false`, func(c *Config) { c.RecurseOn = false }, ""},
		{`"RecurseOn": false`, func(c *Config) { c.RecurseOn = false }, ""},
		{`"SOAMname": "ns2.mesos"`, func(c *Config) { c.SOAMname = "ns2.mesos." }, ""},
		{`"soamname": "ns3.mesos."`, func(c *Config) { c.SOAMname = "ns3.mesos." }, ""},
		{`"SOARname": "admin@ns1.mesos"`, func(c *Config) { c.SOARname = "admin.ns1.mesos." }, ""},
		{`"soarname": "hostmaster.mesos.."`, func(c *Config) { c.SOARname = "hostmaster.mesos." }, ""},
		{`"SOARefresh": 61`, func(c *Config) { c.SOARefresh = 61 }, ""},
		{`"SOARetry": 601`, func(c *Config) { c.SOARetry = 601 }, ""},
		{`"SOAExpire": 4294967295`, func(c *Config) { c.SOAExpire = 4294967295 }, ""},
		{`"SOAMinttl": 99`, func(c *Config) { c.SOAMinttl = 99 }, ""},
		{`"soaminttl": 0`, func(c *Config) { c.SOAMinttl = 0 }, ""},
		{`"SOASerial": 5`, func(c *Config) {}, "start-up time"},
		{`"srvRecordDefaultWeight": 0`, func(c *Config) { c.SRVRecordDefaultWeight = 0 }, ""},
		{`"SRVRecordDefaultWeight": 65535`, func(c *Config) { c.SRVRecordDefaultWeight = 65535 }, ""},
		{`"IPSources": ["host"]`, func(c *Config) { c.IPSources = []string{"host"} }, ""},
		{`"ipsources": ["docker", "netinfo", "mesos", "host"]`, func(c *Config) { c.IPSources = []string{"docker", "netinfo", "mesos", "host"} }, ""},
		{`"EnforceRFC952": true`, func(c *Config) { c.EnforceRFC952 = true }, ""},
		{`"enforcerfc952": true`, func(c *Config) { c.EnforceRFC952 = true }, ""},
		{`"SetTruncateBit": false`, func(c *Config) { c.SetTruncateBit = false }, ""},
		{`"setTruncateBit": false`, func(c *Config) { c.SetTruncateBit = false }, ""},
		{`"EnumerationOn": false`, func(c *Config) { c.EnumerationOn = false }, ""},
		{`"enumerationOn": false`, func(c *Config) { c.EnumerationOn = false }, ""},
		{`"MesosHTTPSOn": true`, func(c *Config) { c.MesosHTTPSOn = true }, ""},
		{`"mesosHttpsOn": true`, func(c *Config) { c.MesosHTTPSOn = true }, ""},
		{`"CACertFile": "/etc/ca.pem"`, func(c *Config) { c.CACertFile = "/etc/ca.pem" }, ""},
		{`"caCertFile": "/etc/ca2.pem"`, func(c *Config) { c.CACertFile = "/etc/ca2.pem" }, ""},
		{`"CertFile": "/c.pem", "KeyFile": "/k.pem"`, func(c *Config) { c.CertFile = "/c.pem"; c.KeyFile = "/k.pem" }, ""},
		{`"keyFile": "/k2.pem", "certFile": "/c2.pem"`, func(c *Config) { c.CertFile = "/c2.pem"; c.KeyFile = "/k2.pem" }, ""},
		{`"MesosAuthentication": "basic", "MesosCredentials": {"principal": "dns", "secret": "s3cr3t"}`, func(c *Config) {
			c.MesosAuthentication = "basic"
			c.MesosCredentials = Credentials{Principal: "dns", Secret: "s3cr3t"}
		}, ""},
		{`"mesosAuthentication": "basic", "mesosCredentials": {"Principal": "dns"}, "MESOSCREDENTIALS": {"SECRET": "x"}`, func(c *Config) {
			c.MesosAuthentication = "basic"
			c.MesosCredentials = Credentials{Principal: "dns", Secret: "x"} // merged, like encoding/json
		}, "last value wins"},
		{`"MesosCredentials": {"principal": "dns"}`, func(c *Config) { c.MesosCredentials.Principal = "dns" }, "probably not intended"},
		{`"MesosAuthentication": "iam", "IAMConfigFile": "/iam.json"`, func(c *Config) { c.MesosAuthentication = "iam"; c.IAMConfigFile = "/iam.json" }, ""},
		{`"iamConfigFile": "/iam.json"`, func(c *Config) { c.IAMConfigFile = "/iam.json" }, "probably not intended"},
		{`"File": "/somewhere/else.json"`, func(c *Config) {}, "ignored"},
		{`"healthFilter": false`, func(c *Config) { c.HealthFilter = false }, ""},
		{`"HealthFilter": false`, func(c *Config) { c.HealthFilter = false }, ""},
		{`"ptrOn": false`, func(c *Config) { c.PTROn = false }, ""},
		{`"PTROn": false`, func(c *Config) { c.PTROn = false }, ""},
		{`"port": null`, func(c *Config) {}, "null ignored"},
	}
	changed := map[string]bool{}
	for _, r := range rows {
		t.Run(r.json, func(t *testing.T) {
			base := `"masters": ["10.0.0.1:5050"]`
			if strings.Contains(strings.ToLower(r.json), `"masters"`) {
				base = `"zk": "zk://10.0.0.1:2181/mesos"`
			}
			l := testLoader(t)
			want, _, err := l.Parse([]byte("{" + base + "}"))
			if err != nil {
				t.Fatal(err)
			}
			before := want.Clone()
			r.want(&want)
			got, warnings, err := l.Parse([]byte("{" + base + ", " + r.json + "}"))
			if err != nil {
				t.Fatalf("error %v (warnings %q)", err, warnings)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}
			switch {
			case r.wantWarn == "" && len(warnings) > 0:
				t.Errorf("unexpected warnings %q", warnings)
			case r.wantWarn != "" && !strings.Contains(strings.Join(warnings, "\n"), r.wantWarn):
				t.Errorf("warnings %q lack %q", warnings, r.wantWarn)
			}
			bv, gv := reflect.ValueOf(before), reflect.ValueOf(got)
			for i := range bv.NumField() {
				if !reflect.DeepEqual(bv.Field(i).Interface(), gv.Field(i).Interface()) {
					changed[bv.Type().Field(i).Name] = true
				}
			}
		})
	}
	// SOASerial and File cannot be set from the file: they are outputs.
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if !changed[f.Name] && f.Name != "SOASerial" && f.Name != "File" {
			t.Errorf("no row changes %s", f.Name)
		}
	}
}

func TestSampleFile(t *testing.T) {
	data, err := os.ReadFile("testdata/config.json.sample")
	if err != nil {
		t.Fatal(err)
	}
	c, warnings, err := testLoader(t).Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	// The sample's "ns" is a leftover Mesos-DNS never read.
	if want := []string{`config key "ns": unknown key, ignored`}; !slices.Equal(warnings, want) {
		t.Errorf("warnings %q, want %q", warnings, want)
	}
	want := Defaults()
	want.Zk = "zk://127.0.0.1:2181/mesos"
	want.Masters = []string{"127.0.0.1:5050"}
	want.Port = 8053
	want.Resolvers = []string{"8.8.8.8:53"}
	want.IPSources = []string{"mesos", "host"}
	want.SOAMname, want.SOARname = "ns1.mesos.", "root.ns1.mesos."
	want.SOASerial = uint32(startup.Unix())
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
}

// TestValidation checks every start-up rule: the error names the key as the
// file writes it (or its documented spelling when absent).
func TestValidation(t *testing.T) {
	const zk = `"zk": "zk://10.0.0.1:2181/mesos", `
	rows := []struct {
		name, json, key, msg string
	}{
		{"zk or masters required", `{}`, "zk", `neither "zk" nor "masters"`},
		{"zk or masters required, null masters", `{"masters": null, "Zk": ""}`, "Zk", `nor "masters"`},
		{"master without port", `{"masters": ["10.0.0.1"]}`, "masters", "not host:port"},
		{"master port 0", `{"masters": ["10.0.0.1:0"]}`, "masters", "not 1 to 65535"},
		{"master port too big", `{"Masters": ["10.0.0.1:65536"]}`, "Masters", "not 1 to 65535"},
		{"master port not a number", `{"masters": ["10.0.0.1:http"]}`, "masters", "not 1 to 65535"},
		{"master without host", `{"masters": [":5050"]}`, "masters", "no host"},
		{"master empty", `{"masters": [""]}`, "masters", "not host:port"},
		{"duplicate masters", `{"masters": ["10.0.0.1:5050", "10.0.0.2:5050", "10.0.0.1:05050"]}`, "masters", "same master"},
		{"duplicate IPv6 masters", `{"masters": ["[::1]:5050", "[0:0::1]:5050"]}`, "masters", "same master"},
		{"bad zk scheme", `{` + `"zk": "http://10.0.0.1:2181/mesos"}`, "zk", "not zk:// or file://"},
		{"zk scheme case", `{"zk": "ZK://10.0.0.1:2181/mesos"}`, "zk", "case-sensitive"},
		{"zk without path", `{"zk": "zk://10.0.0.1:2181"}`, "zk", "no znode path"},
		{"zk root path", `{"zk": "zk://10.0.0.1:2181/"}`, "zk", "no znode path"},
		{"zk without host", `{"zk": "zk:///mesos"}`, "zk", "no ZooKeeper host"},
		{"zk bad port", `{"zk": "zk://10.0.0.1:99999/mesos"}`, "zk", "not 1 to 65535"},
		{"zk empty server", `{"zk": "zk://10.0.0.1:2181,,zk2/mesos"}`, "zk", "no valid host"},
		{"zk bad path", `{"zk": "zk://zk1/mesos//x"}`, "zk", "malformed"},
		{"zk static without port", `{"zk": "10.0.0.1"}`, "zk", "want zk://"},
		{"zk two @", `{"zk": "a@b@10.0.0.1:5050"}`, "zk", "want zk://"},
		{"zk empty file", `{"zk": "file://"}`, "zk", "names no file"},
		{"stateTimeoutSeconds 0", `{` + zk + `"stateTimeoutSeconds": 0}`, "stateTimeoutSeconds", "must be > 0"},
		{"stateTimeoutSeconds negative", `{` + zk + `"StateTimeoutSeconds": -1}`, "StateTimeoutSeconds", "must be > 0"},
		{"refreshSeconds 0", `{` + zk + `"refreshSeconds": 0}`, "refreshSeconds", "must be > 0"},
		{"domain trailing dot", `{` + zk + `"domain": "mesos."}`, "domain", "not a domain name"},
		{"domain space", `{` + zk + `"Domain": "my mesos"}`, "Domain", "not a domain name"},
		{"domain empty", `{` + zk + `"domain": ""}`, "domain", "not a domain name"},
		{"dns and http off", `{` + zk + `"dnson": false, "httpon": false}`, "dnson", "at least one server"},
		{"resolver hostname", `{` + zk + `"resolvers": ["dns.google"]}`, "resolvers", "not an IP address"},
		{"resolver empty string", `{` + zk + `"resolvers": [""]}`, "resolvers", "not an IP address"},
		{"resolver bracketed without port", `{` + zk + `"resolvers": ["[::1]"]}`, "resolvers", "not an IP address"},
		{"resolver port 0", `{` + zk + `"resolvers": ["8.8.8.8:0"]}`, "resolvers", "not 1 to 65535"},
		{"duplicate resolvers", `{` + zk + `"resolvers": ["8.8.8.8", "8.8.8.8:53"]}`, "resolvers", "same resolver"},
		{"zone without resolvers", `{` + zk + `"zoneResolvers": {"consul": []}}`, "zoneResolvers", "no resolvers"},
		{"zone null", `{` + zk + `"zoneResolvers": {"consul": null}}`, "zoneResolvers", "no resolvers"},
		{"zone is the domain", `{` + zk + `"zoneResolvers": {"mesos": ["10.0.0.9"]}}`, "zoneResolvers", "is the Mesos domain"},
		{"zone is the domain, other case", `{` + zk + `"domain": "MESOS", "zoneResolvers": {"Mesos": ["10.0.0.9"]}}`, "zoneResolvers", "is the Mesos domain"},
		{"zone inside the domain", `{` + zk + `"zoneResolvers": {"a.mesos": ["10.0.0.9"]}}`, "zoneResolvers", "inside the Mesos domain"},
		{"zone contains the domain", `{` + zk + `"domain": "dc1.example", "SOAMname": "ns1.dc1.example", "zoneResolvers": {"example": ["10.0.0.9"]}}`, "zoneResolvers", "contains the Mesos domain"},
		{"zone inside zone", `{` + zk + `"zoneResolvers": {"consul": ["10.0.0.9"], "dc1.consul": ["10.0.0.8"]}}`, "zoneResolvers", `zone "dc1.consul" is inside zone "consul"`},
		{"same zone twice", `{` + zk + `"zoneResolvers": {"Consul": ["10.0.0.9"], "consul": ["10.0.0.8"]}}`, "zoneResolvers", "same zone"},
		{"zone trailing dot", `{` + zk + `"zoneResolvers": {"consul.": ["10.0.0.9"]}}`, "zoneResolvers", "not a domain name"},
		{"zone resolver hostname", `{` + zk + `"ZoneResolvers": {"consul": ["consul.local"]}}`, "ZoneResolvers", "not an IP address"},
		{"zone duplicate resolver", `{` + zk + `"zoneResolvers": {"consul": ["10.0.0.9", "10.0.0.9:53"]}}`, "zoneResolvers", "same resolver"},
		{"IPSources empty", `{` + zk + `"IPSources": []}`, "IPSources", "empty"},
		{"IPSources null", `{` + zk + `"ipsources": null}`, "ipsources", "empty"},
		{"IPSources duplicate", `{` + zk + `"IPSources": ["host", "mesos", "host"]}`, "IPSources", `"host" is listed twice`},
		{"IPSources unknown", `{` + zk + `"IPSources": ["rkt"]}`, "IPSources", "not an IP source"},
		{"IPSources case", `{` + zk + `"IPSources": ["Host"]}`, "IPSources", "not an IP source"},
		{"cert without key", `{` + zk + `"CertFile": "/c.pem"}`, "CertFile", `without "KeyFile"`},
		{"key without cert", `{` + zk + `"keyfile": "/k.pem"}`, "keyfile", `without "CertFile"`},
		{"unknown auth", `{` + zk + `"MesosAuthentication": "digest"}`, "MesosAuthentication", "not an authentication mechanism"},
		{"auth case", `{` + zk + `"mesosauthentication": "Basic"}`, "mesosauthentication", `case-sensitive: "basic"`},
		{"basic without credentials", `{` + zk + `"MesosAuthentication": "basic"}`, "MesosCredentials", `is "basic"`},
		{"iam without file", `{` + zk + `"MesosAuthentication": "iam"}`, "IAMConfigFile", `is "iam"`},
		{"listener hostname", `{` + zk + `"listener": "localhost"}`, "listener", "not an IP address"},
		{"listener empty", `{` + zk + `"Listener": ""}`, "Listener", "not an IP address"},
		{"port too big", `{` + zk + `"port": 70000}`, "port", "not a port"},
		{"httpport negative", `{` + zk + `"httpport": -1}`, "httpport", "not a port"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, _, err := testLoader(t).Parse([]byte(r.json))
			checkKeyError(t, err, r.key, r.msg)
		})
	}
}

// checkKeyError checks that err holds an *Error for key whose message
// contains msg, and that the text names the key.
func checkKeyError(t *testing.T, err error, key, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one for key %q", key)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T %v is not Errors", err, err)
	}
	for _, e := range es {
		if e.Key == key && strings.Contains(e.Msg, msg) {
			if !strings.Contains(err.Error(), fmt.Sprintf("config key %q: ", key)) {
				t.Errorf("message %q does not name key %q", err, key)
			}
			return
		}
	}
	t.Errorf("error %q: no problem for key %q containing %q", err, key, msg)
}

// TestValidValues are the accepted counterparts of the rules above.
func TestValidValues(t *testing.T) {
	for _, js := range []string{
		`{"zk": "zk://10.0.0.1:2181/mesos"}`,
		`{"zk": "zk://user:pass@zk1,zk2:2182,[::1]:2183,[2001:db8::2]/mesos/"}`,
		`{"zk": "zk://zk1:2181/dcos/mesos"}`,
		`{"zk": "file:///etc/mesos/zk"}`,
		`{"zk": "10.0.0.1:5050"}`,
		`{"zk": "master@10.0.0.1:5050"}`,
		`{"zk": "master(1)@m1.example:5050"}`,
		`{"masters": ["m1.example:5050", "[::1]:5050", "10.0.0.1:5050"]}`,
		`{"masters": ["10.0.0.1:5050"], "dnson": false}`,
		`{"masters": ["10.0.0.1:5050"], "httpon": false, "httpport": -5}`, // unused port is not checked
		`{"masters": ["10.0.0.1:5050"], "externalon": false, "resolvers": ["bogus"], "zoneResolvers": {"mesos": []}}`,
		`{"masters": ["10.0.0.1:5050"], "zoneResolvers": {"xmesos": ["10.0.0.9"], "consul": ["10.0.0.9"], "consulx": ["10.0.0.9"]}}`,
		`{"masters": ["10.0.0.1:5050"], "zoneResolvers": null}`,
		`{"masters": ["10.0.0.1:5050"], "IPSources": ["host", "docker", "mesos", "netinfo"]}`,
		`{"masters": ["10.0.0.1:5050"], "MesosAuthentication": "basic", "MesosCredentials": {"secret": "only"}}`,
		`{"masters": ["10.0.0.1:5050"], "MesosAuthentication": ""}`,
		`{"masters": ["10.0.0.1:5050"], "listener": "::1", "port": 0}`,
	} {
		if _, _, err := testLoader(t).Parse([]byte(js)); err != nil {
			t.Errorf("%s: %v", js, err)
		}
	}
}

func TestTypeErrors(t *testing.T) {
	rows := []struct{ json, want string }{
		{`{"port": "53"}`, `config key "port": expected a number, got string`},
		{`{"HttpPort": true}`, `config key "HttpPort": expected a number, got boolean`},
		{`{"ttl": 1.5}`, `config key "ttl": expected an integer, got 1.5`},
		{`{"ttl": 1e2}`, `config key "ttl": expected an integer, got 1e2`},
		{`{"TTL": 2147483648}`, `config key "TTL": 2147483648 is out of range (-2147483648 to 2147483647)`},
		{`{"SOARefresh": -1}`, `config key "SOARefresh": -1 is out of range (0 to 4294967295)`},
		{`{"srvRecordDefaultWeight": 65536}`, `config key "srvRecordDefaultWeight": 65536 is out of range (0 to 65535)`},
		{`{"refreshSeconds": 99999999999999999999}`, `config key "refreshSeconds": 99999999999999999999 is out of range`},
		{`{"dnson": "true"}`, `config key "dnson": expected a boolean, got string`},
		{`{"domain": 5}`, `config key "domain": expected a string, got number`},
		{`{"zk": ["zk://h/mesos"]}`, `config key "zk": expected a string, got array`},
		{`{"masters": "10.0.0.1:5050"}`, `config key "masters": expected an array of strings, got string`},
		{`{"masters": ["10.0.0.1:5050", 5050]}`, `config key "masters": element 1: expected a string, got number`},
		{`{"resolvers": {"a": 1}}`, `config key "resolvers": expected an array of strings, got object`},
		{`{"IPSources": "host"}`, `config key "IPSources": expected an array of strings, got string`},
		{`{"zoneResolvers": ["10.0.0.1"]}`, `config key "zoneResolvers": expected an object mapping zones to arrays of resolvers, got array`},
		{`{"zoneResolvers": {"consul": "10.0.0.1"}}`, `config key "zoneResolvers.consul": expected an array of strings, got string`},
		{`{"MesosCredentials": "dns:secret"}`, `config key "MesosCredentials": expected an object with principal and secret, got string`},
		{`{"MesosCredentials": {"secret": 1}}`, `config key "MesosCredentials.secret": expected a string, got number`},
		{`{"healthFilter": 0}`, `config key "healthFilter": expected a boolean, got number`},
		{`["zk://h/mesos"]`, `config: the file must hold a JSON object, got array`},
		{``, `config: the file is empty`},
		{"{\n  \"zk\": \"zk://h/mesos\",\n}", `config: invalid JSON at line 3, column 1: invalid character '}'`},
		{`{"zk": "zk://h/mesos"} {}`, `config: invalid JSON at line 1, column 24`},
	}
	for _, r := range rows {
		_, _, err := testLoader(t).Parse([]byte(r.json))
		if err == nil || !strings.HasPrefix(err.Error(), r.want) {
			t.Errorf("%s: error %v, want %s", r.json, err, r.want)
		}
	}
}

// TestAllProblemsAtOnce: every problem is reported, on one line.
func TestAllProblemsAtOnce(t *testing.T) {
	_, _, err := testLoader(t).Parse([]byte(`{"port": "x", "ttl": "y"}`))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("got %#v", err)
	}
	if want := `config key "port": expected a number, got string; config key "ttl": expected a number, got string`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	_, _, err = testLoader(t).Parse([]byte(`{"masters": ["x"], "IPSources": [], "domain": "a b"}`))
	if !errors.As(err, &es) || len(es) != 3 || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Key != "masters" {
		t.Errorf("errors.As(*Error) = %v", e)
	}
}

func TestWarnings(t *testing.T) {
	const zk = `"zk": "zk://10.0.0.1:2181/mesos", `
	rows := []struct{ json, want string }{
		{`{` + zk + `"ns": "ns1"}`, `config key "ns": unknown key, ignored`},
		{`{` + zk + `"email": "root.mesos-dns.mesos"}`, `config key "email": unknown key, ignored`},
		{`{` + zk + `"resolver": ["1.1.1.1"]}`, `config key "resolver": unknown key, ignored (did you mean "resolvers"?)`},
		{`{` + zk + `"IPSource": ["host"]}`, `config key "IPSource": unknown key, ignored (did you mean "IPSources"?)`},
		{`{` + zk + `"MesosCredentials": {"principal": "p", "password": "x"}}`, `config key "MesosCredentials.password": unknown key, ignored`},
		{`{` + zk + `"port": 1, "port": 2}`, `config key "port": given more than once; the last value wins`},
		{`{` + zk + `"port": 1, "Port": 2}`, `config key "Port": same key as "port" (keys ignore case); the last value wins`},
		{`{` + zk + `"zoneResolvers": {"consul": ["10.0.0.1"], "consul": ["10.0.0.2"]}}`, `zone "consul" given more than once`},
		{`{` + zk + `"ttl": -1}`, `config key "ttl": -1 is negative`},
		{`{` + zk + `"port": 0}`, `config key "port": 0 makes the system pick a random port`},
		{`{` + zk + `"domain": "dcos"}`, `config key "SOAMname": "ns1.mesos." is outside domain "dcos"`},
		{`{` + zk + `"listener": "10.0.0.1", "dnson": true, "Domain": "x"}`, `outside domain "x"`},
		{`null`, `the file holds null`},
	}
	for _, r := range rows {
		_, warnings, _ := testLoader(t).Parse([]byte(r.json))
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, r.want) || strings.Contains(w, r.want) }) {
			t.Errorf("%s: warnings %q lack %q", r.json, warnings, r.want)
		}
	}
	// A key given twice keeps its last value, like encoding/json.
	c, _, err := testLoader(t).Parse([]byte(`{"zk": "zk://h/mesos", "port": 1, "PORT": 2}`))
	if err != nil || c.Port != 2 {
		t.Errorf("Port %d, err %v; want 2", c.Port, err)
	}
	// Unicode folding as in encoding/json: U+212A KELVIN SIGN folds to k.
	c, warnings, err := testLoader(t).Parse([]byte(`{"zk": "zk://h/mesos", "\u212aeyFile": "/k", "certfile": "/c"}`))
	if err != nil || c.KeyFile != "/k" || len(warnings) != 0 {
		t.Errorf("KeyFile %q, warnings %q, err %v", c.KeyFile, warnings, err)
	}
}

func TestResolvConfFallback(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	err := os.WriteFile(conf, []byte(`# written by a test
domain example.com
search example.com
nameserver 10.0.0.2
nameserver 192.168.1.1
; nameserver 10.0.0.99
nameserver 10.0.0.2
nameserver fe80::1%eth0
nameserver ::1
nameserver 2001:db8::1
nameserver
options ndots:5 timeout:1
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	l := testLoader(t)
	l.ResolvConf = conf
	want := []string{"10.0.0.2:53", "[2001:db8::1]:53"}
	for _, js := range []string{
		`{"zk": "zk://h/mesos", "resolvers": []}`,
		`{"zk": "zk://h/mesos", "Resolvers": null}`,
	} {
		c, warnings, err := l.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Resolvers, want) {
			t.Errorf("%s: resolvers %q, want %q (own addresses and duplicates dropped)", js, c.Resolvers, want)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], `"fe80::1%eth0" is not an IP address`) {
			t.Errorf("warnings %q, want one about the scoped address", warnings)
		}
	}

	// Only this host's own addresses: nothing left to forward to.
	only := filepath.Join(dir, "only-local")
	if err := os.WriteFile(only, []byte("nameserver 192.168.1.1\nnameserver ::ffff:192.168.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.ResolvConf = only
	c, warnings, err := l.Parse([]byte(`{"zk": "zk://h/mesos", "resolvers": []}`))
	if err != nil || len(c.Resolvers) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "will be refused") {
		t.Errorf("resolvers %q, warnings %q, err %v", c.Resolvers, warnings, err)
	}

	// Unreadable: fatal, as in Mesos-DNS.
	l.ResolvConf = filepath.Join(dir, "missing")
	_, _, err = l.Parse([]byte(`{"zk": "zk://h/mesos", "resolvers": []}`))
	checkKeyError(t, err, "resolvers", "cannot be read")

	// Not read at all when forwarding is off.
	c, _, err = l.Parse([]byte(`{"zk": "zk://h/mesos", "resolvers": [], "externalon": false}`))
	if err != nil || len(c.Resolvers) != 0 {
		t.Errorf("externalon false: resolvers %q, err %v", c.Resolvers, err)
	}
}

func TestLoad(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "config.json")
	if err := os.WriteFile(path, []byte(`{"zk": "zk://10.0.0.1:2181/mesos", "ns": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{
		{"HOME": home},
		{"HOME": home, "USERPROFILE": "/nonexistent"}, // $HOME first
		{"USERPROFILE": home},                         // Windows
	} {
		l := testLoader(t)
		l.Getenv = func(k string) string { return env[k] }
		c, warnings, err := l.Load("~/config.json")
		if err != nil {
			t.Fatalf("%v: %v", env, err)
		}
		if c.File != path {
			t.Errorf("%v: File %q, want %q", env, c.File, path)
		}
		if len(warnings) != 1 || !strings.HasPrefix(warnings[0], fmt.Sprintf("config file %q: config key \"ns\"", path)) {
			t.Errorf("warnings %q should name the file and the key", warnings)
		}
	}

	// Without a home, "~/" is the current directory; a relative path is made
	// absolute.
	t.Chdir(home)
	l := testLoader(t)
	for _, p := range []string{"~/config.json", "config.json", "./config.json"} {
		c, _, err := l.Load(p)
		if err != nil || c.File != path {
			t.Errorf("Load(%q): File %q, err %v; want %q", p, c.File, err, path)
		}
	}
	// Only a leading "~/" is expanded.
	if _, _, err := l.Load("sub/~/config.json"); err == nil || !strings.Contains(err.Error(), filepath.Join(home, "sub/~/config.json")) {
		t.Errorf("got %v", err)
	}

	// Errors name the file, and the key when the content is wrong.
	_, _, err := l.Load(filepath.Join(home, "missing.json"))
	if want := fmt.Sprintf("config file %q: no such file or directory", filepath.Join(home, "missing.json")); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	bad := filepath.Join(home, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"port": "53"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = l.Load(bad)
	if want := fmt.Sprintf("config file %q: config key \"port\": expected a number, got string", bad); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Key != "port" {
		t.Errorf("errors.As: %v", e)
	}
}

const secret = "hunter2-very-secret"

func TestPublicHidesSecrets(t *testing.T) {
	c, _, err := testLoader(t).Parse([]byte(`{
		"zk": "zk://dns:zkpassw0rd@10.0.0.1:2181,10.0.0.2:2181/mesos",
		"MesosAuthentication": "basic",
		"MesosCredentials": {"principal": "dns", "secret": "` + secret + `"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Public()
	if p.MesosCredentials.Secret != Redacted || p.MesosCredentials.Principal != "dns" {
		t.Errorf("Public credentials %#v", p.MesosCredentials)
	}
	if want := "zk://dns:" + Redacted + "@10.0.0.1:2181,10.0.0.2:2181/mesos"; p.Zk != want {
		t.Errorf("Public Zk %q, want %q", p.Zk, want)
	}
	if c.MesosCredentials.Secret != secret || !strings.Contains(c.Zk, "zkpassw0rd") {
		t.Error("Public modified the live configuration")
	}
	// No way of showing the configuration shows a secret.
	for _, shown := range []any{p, c, &c, c.MesosCredentials} {
		b, err := json.Marshal(shown)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{string(b), fmt.Sprintf("%v", shown), fmt.Sprintf("%+v", shown), fmt.Sprintf("%#v", c.MesosCredentials)} {
			if strings.Contains(s, secret) {
				t.Errorf("secret leaked: %s", s)
			}
		}
		if strings.Contains(string(b), "zkpassw0rd") {
			t.Errorf("zk password leaked: %s", b)
		}
	}
	// An unset secret stays visibly unset.
	c2, _, _ := testLoader(t).Parse([]byte(`{"zk": "zk://h/mesos"}`))
	if c2.Public().MesosCredentials.Secret != "" {
		t.Error("empty secret shown as set")
	}
	// Deep copy: the HTTP handler cannot change the live slices.
	p.Resolvers[0] = "x"
	p.IPSources[0] = "x"
	if c.Resolvers[0] == "x" || c.IPSources[0] == "x" {
		t.Error("Public shares slices")
	}
}

func TestRedactZk(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"zk://h:2181/mesos":            "zk://h:2181/mesos",
		"zk://user@h:2181/mesos":       "zk://user@h:2181/mesos",
		"zk://user:pw@h:2181/mesos":    "zk://user:" + Redacted + "@h:2181/mesos",
		"zk://user:p:w@h1,h2":          "zk://user:" + Redacted + "@h1,h2",
		"zk://a:b@c@h/mesos/x@y":       "zk://a:" + Redacted + "@h/mesos/x@y",
		"master@10.0.0.1:5050":         "master@10.0.0.1:5050",
		"file:///etc/user:pw@zk-hosts": "file:///etc/user:pw@zk-hosts",
	} {
		if got := redactZk(in); got != want {
			t.Errorf("redactZk(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPublicShape checks /v1/config's keys and their order against
// Mesos-DNS's (§6), followed by Signpost's two keys.
func TestPublicShape(t *testing.T) {
	c, _, err := testLoader(t).Parse([]byte(`{"zk": "zk://h/mesos"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c.Public())
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(`RefreshSeconds Port Timeout StateTimeoutSeconds ZkDetectionTimeout HttpPort TTL
		SRVRecordDefaultWeight SOASerial SOARefresh SOARetry SOAExpire SOAMinttl SOAMname SOARname Masters
		ZoneResolvers Resolvers IPSources Zk Domain File Listener HTTPListener RecurseOn DnsOn HttpOn ExternalOn
		EnforceRFC952 SetTruncateBit EnumerationOn MesosHTTPSOn CACertFile CertFile KeyFile MesosCredentials
		IAMConfigFile MesosAuthentication HealthFilter PTROn`)
	ms, err := members(b)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range ms {
		keys = append(keys, m.key)
	}
	if !slices.Equal(keys, want) {
		t.Errorf("keys\n%q\nwant\n%q", keys, want)
	}
	var shape struct {
		Masters          []string
		ZoneResolvers    map[string][]string
		MesosCredentials map[string]string
	}
	if err := json.Unmarshal(b, &shape); err != nil {
		t.Fatal(err)
	}
	if shape.Masters != nil || shape.ZoneResolvers == nil || len(shape.MesosCredentials) != 2 {
		t.Errorf("Masters must be null, ZoneResolvers {}, MesosCredentials {Principal, Secret}: %s", b)
	}
}

func TestParseZk(t *testing.T) {
	rows := []struct {
		in   string
		want ZkSpec
	}{
		{"zk://10.0.0.1:2181/mesos", ZkSpec{Kind: "zk", Servers: []string{"10.0.0.1:2181"}, Path: "/mesos"}},
		{"zk://u:p@zk1,zk2:2182,[::1],[2001:DB8::1]:2183/dcos/mesos/", ZkSpec{Kind: "zk",
			Servers: []string{"zk1:2181", "zk2:2182", "[::1]:2181", "[2001:db8::1]:2183"}, Path: "/dcos/mesos"}},
		{"file:///etc/mesos/zk", ZkSpec{Kind: "file", File: "/etc/mesos/zk"}},
		{"10.0.0.1:5050", ZkSpec{Kind: "static", Master: "10.0.0.1:5050"}},
		{"master@10.0.0.1:5050", ZkSpec{Kind: "static", Master: "10.0.0.1:5050"}},
		{"master(2)@m1.example:5050", ZkSpec{Kind: "static", Master: "m1.example:5050"}},
	}
	for _, r := range rows {
		got, err := ParseZk(r.in)
		if err != nil || !reflect.DeepEqual(got, r.want) {
			t.Errorf("ParseZk(%q) = %+v, %v; want %+v", r.in, got, err, r.want)
		}
	}
	for _, bad := range []string{"", "zk://", "zk://h", "zk://h/", "zk://h:0/mesos", "zk://h:x/mesos",
		"zk://h1,,h2/mesos", "zk://[::1/mesos", "zk://h/a//b", "zk://h/a/../b", "Zk://h/mesos", "http://h/mesos",
		"h", "a@b@h:1", "master@:5050", "h:70000", "file://"} {
		if got, err := ParseZk(bad); err == nil {
			t.Errorf("ParseZk(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestCredentialsFormatting(t *testing.T) {
	c := Credentials{Principal: "dns", Secret: secret}
	for _, s := range []string{c.String(), c.GoString(), fmt.Sprint(c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, secret) || !strings.Contains(s, "dns") {
			t.Errorf("%q", s)
		}
	}
	b, _ := json.Marshal(c)
	if string(b) != `{"Principal":"dns","Secret":"`+Redacted+`"}` {
		t.Errorf("%s", b)
	}
}
