package mesospoll

import (
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Masters:"},
		{Config{Masters: []string{"10.0.0.1"}}, `Masters[0] "10.0.0.1"`},
		{Config{Masters: []string{"10.0.0.1:5050", ":5050"}}, `Masters[1] ":5050": empty host`},
		{Config{Masters: []string{"10.0.0.1:http"}}, `Masters[0] "10.0.0.1:http": port`},
		{Config{Masters: []string{"10.0.0.1:0"}}, `Masters[0] "10.0.0.1:0": port`},
		{Config{Masters: []string{"http://10.0.0.1:5050"}}, `Masters[0]`},
		{Config{Masters: []string{"a:1", "b:1", "a:1"}}, `Masters[2] "a:1": repeats Masters[0]`},
		{Config{Masters: []string{"a:1"}, Refresh: -time.Second}, "Refresh:"},
		{Config{Masters: []string{"a:1"}, Timeout: -time.Second}, "Timeout:"},
		{Config{Masters: []string{"a:1"}, MaxBodyBytes: -1}, "MaxBodyBytes:"},
		{Config{Masters: []string{"a:1"}, BasicAuth: &struct{ User, Password string }{}}, "BasicAuth.User:"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	masters := []string{"m1.example:5050", "[::1]:5050"}
	p, err := New(Config{Masters: masters})
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.Refresh != DefaultRefresh || p.cfg.Timeout != DefaultTimeout || p.cfg.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("defaults: %+v", p.cfg)
	}
	if p.presumed != masters[0] {
		t.Errorf("presumed leader %q, want the first master", p.presumed)
	}
	masters[0] = "changed:1"
	if p.cfg.Masters[0] != "m1.example:5050" {
		t.Error("New kept the caller's slice")
	}
	if h := p.Health(); h != (Health{}) {
		t.Errorf("health before Run: %+v", h)
	}
}

func TestUPIDAddr(t *testing.T) {
	for in, want := range map[string]string{
		"master@10.0.0.1:5050":       "10.0.0.1:5050",
		"master@m1.example.com:5050": "m1.example.com:5050",
		"master@[2001:db8::1]:5050":  "[2001:db8::1]:5050",
		"master@2001:db8::1:5050":    "[2001:db8::1]:5050",
		"master@::1:5050":            "[::1]:5050",
	} {
		if got, err := upidAddr(in); err != nil || got != want {
			t.Errorf("upidAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"10.0.0.1:5050", "master@", "master@10.0.0.1", "master@10.0.0.1:x",
		"a@b@10.0.0.1:5050", "master@:5050", "master@10.0.0.1:0"} {
		if got, err := upidAddr(in); err == nil {
			t.Errorf("upidAddr(%q) = %q, want an error", in, got)
		}
	}
}
