package config

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that no input makes Parse panic, that every failure is an
// Errors of keyed problems, and that every accepted configuration holds the
// invariants the servers rely on: normalised names, positive periods, valid
// masters and resolvers in canonical form, and no secret in its public form.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{}`,
		`null`,
		`[]`,
		`{"zk": "zk://10.0.0.1:2181/mesos"}`,
		`{"zk": "zk://u:p@zk1,[::1]:2182/mesos/", "resolvers": [], "zoneResolvers": {"Consul": ["10.0.0.9"]}}`,
		`{"masters": ["[2001:DB8::1]:5050", "m1:05050"], "port": 0, "ttl": -1, "timeout": -1}`,
		`{"masters": ["10.0.0.1:5050"], "MesosAuthentication": "basic", "MesosCredentials": {"principal": "p", "secret": "s"}}`,
		`{"zk": "master@10.0.0.1:5050", "IPSources": ["host", "host"], "domain": "A.b", "SOARname": "a@b"}`,
		`{"zk": "file:///x", "port": "53", "port": 1e3, "PORT": null, "\u212aeyfile": 1}`,
		`{"zk": "zk://h/m", "externalon": false, "resolvers": [null, 1]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if raw, err := os.ReadFile("testdata/config.json.sample"); err == nil {
		f.Add(raw)
	}
	l := Loader{
		ResolvConf: "testdata/resolv.conf",
		LocalAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.1.1")}, nil },
		Getenv:     func(string) string { return "" },
		Now:        func() time.Time { return time.Unix(1700000000, 0) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := l.Parse(data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		switch {
		case !domainRE.MatchString(c.Domain) || c.Domain != strings.ToLower(c.Domain):
			t.Fatalf("domain %q", c.Domain)
		case !strings.HasSuffix(c.SOAMname, ".") || !strings.HasSuffix(c.SOARname, ".") || strings.Contains(c.SOARname, "@"):
			t.Fatalf("SOA names %q %q", c.SOAMname, c.SOARname)
		case c.Timeout <= 0 || c.RefreshSeconds <= 0 || c.StateTimeoutSeconds <= 0:
			t.Fatalf("periods %d %d %d", c.Timeout, c.RefreshSeconds, c.StateTimeoutSeconds)
		case !c.DnsOn && !c.HttpOn:
			t.Fatal("both servers off")
		case len(c.Masters) == 0 && c.Zk == "":
			t.Fatal("no master source")
		case len(c.IPSources) == 0:
			t.Fatal("no IP source")
		}
		for _, m := range c.Masters {
			if n, err := normalizeMaster(m); err != nil || n != m {
				t.Fatalf("master %q not canonical: %q %v", m, n, err)
			}
		}
		if c.ExternalOn {
			for _, r := range c.Resolvers {
				if n, err := normalizeResolver(r); err != nil || n != r {
					t.Fatalf("resolver %q not canonical: %q %v", r, n, err)
				}
			}
			for z, rs := range c.ZoneResolvers {
				if z != strings.ToLower(z) || len(rs) == 0 {
					t.Fatalf("zone %q: %q", z, rs)
				}
			}
		}
		if c.Zk != "" {
			if _, err := ParseZk(c.Zk); err != nil {
				t.Fatalf("accepted zk %q: %v", c.Zk, err)
			}
		}
		p := c.Public()
		if s := p.MesosCredentials.Secret; s != "" && s != Redacted {
			t.Fatalf("public secret %q", s)
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatal(err)
		}
	})
}
