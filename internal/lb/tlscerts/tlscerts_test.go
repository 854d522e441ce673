package tlscerts

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/certtest"
)

// writeCert writes certificate and key into one PEM file, as HAProxy's
// "crt" wants it.
func writeCert(t *testing.T, path string, names ...string) {
	t.Helper()
	c, k := certtest.Generate(t, names...)
	if err := os.WriteFile(path, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func keyPair(t *testing.T, names ...string) *tls.Certificate {
	t.Helper()
	c, k := certtest.Generate(t, names...)
	kp, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return &kp
}

func cn(c *tls.Certificate) string {
	if c == nil {
		return "<nil>"
	}
	return c.Leaf.Subject.CommonName
}

func TestSetPick(t *testing.T) {
	first := keyPair(t, "first.example")
	exact := keyPair(t, "a.example", "alt.example")
	wild := keyPair(t, "*.wild.example")
	dupExact := keyPair(t, "a.example") // later: loses to exact
	set := NewSet([]*tls.Certificate{first, exact, wild, dupExact})
	for _, tc := range []struct {
		sni, want string
	}{
		{"a.example", "a.example"},
		{"alt.example", "a.example"},
		{"A.EXAMPLE.", "a.example"},
		{"x.wild.example", "*.wild.example"},
		{"X.Wild.Example", "*.wild.example"},
		{"wild.example", "first.example"},     // a wildcard needs a label
		{"y.x.wild.example", "first.example"}, // and covers one label only
		{"unknown.example", "first.example"},  // no match: first
		{"", "first.example"},                 // no SNI: first
		{"first.example", "first.example"},    // exact by CN
		{".", "first.example"},                // degenerate name
		{"*.wild.example", "*.wild.example"},  // literal wildcard name
		{strings.Repeat("a.", 200), "first.example"},
	} {
		if got := cn(set.Pick(tc.sni)); got != tc.want {
			t.Errorf("Pick(%q) = %s, want %s", tc.sni, got, tc.want)
		}
		h := &tls.ClientHelloInfo{ServerName: tc.sni}
		if got, err := set.GetCertificate(h); err != nil || cn(got) != tc.want {
			t.Errorf("GetCertificate(%q) = %s, %v, want %s", tc.sni, cn(got), err, tc.want)
		}
	}
	if set.Len() != 4 {
		t.Errorf("Len = %d, want 4", set.Len())
	}

	var none *Set
	if s := NewSet(nil); s != nil {
		t.Errorf("NewSet(nil) = %v, want nil", s)
	}
	if none.Pick("a.example") != nil || none.Len() != 0 {
		t.Error("nil Set picks a certificate")
	}
	if _, err := none.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example"}); err != ErrNoCertificate {
		t.Errorf("nil Set GetCertificate error = %v, want ErrNoCertificate", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, filepath.Join(dir, "single.pem"), "single.example")

	// A certificate whose key lives in "<file>.key".
	c, k := certtest.Generate(t, "split.example")
	mustWrite(t, filepath.Join(dir, "split.pem"), c)
	mustWrite(t, filepath.Join(dir, "split.pem.key"), k)
	// A certificate without any key.
	c, _ = certtest.Generate(t, "nokey.example")
	mustWrite(t, filepath.Join(dir, "nokey.pem"), c)

	// A directory: loaded in name order; hidden files, side files and
	// subdirectories are not certificates.
	cd := filepath.Join(dir, "certs")
	os.Mkdir(cd, 0o755)
	writeCert(t, filepath.Join(cd, "b.pem"), "b.example")
	writeCert(t, filepath.Join(cd, "a.pem"), "a.example")
	c, k = certtest.Generate(t, "c.example")
	mustWrite(t, filepath.Join(cd, "c"), c)
	mustWrite(t, filepath.Join(cd, "c.key"), k)
	mustWrite(t, filepath.Join(cd, ".hidden.pem"), []byte("junk"))
	mustWrite(t, filepath.Join(cd, "a.pem.ocsp"), []byte("junk"))
	os.Mkdir(filepath.Join(cd, "sub"), 0o755)

	// A directory with one broken file among good ones.
	bd := filepath.Join(dir, "mixed")
	os.Mkdir(bd, 0o755)
	writeCert(t, filepath.Join(bd, "good.pem"), "good.example")
	mustWrite(t, filepath.Join(bd, "broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"))

	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)

	for _, tc := range []struct {
		name    string
		paths   []string
		want    []string // common names, in order
		wantErr []string // substrings of the error; none: no error
	}{
		{"file with key", []string{"single.pem"}, []string{"single.example"}, nil},
		{"key beside the file", []string{"split.pem"}, []string{"split.example"}, nil},
		{"no key", []string{"nokey.pem"}, nil, []string{"nokey.pem", "no private key"}},
		{"directory in name order", []string{"certs"}, []string{"a.example", "b.example", "c.example"}, nil},
		{"broken file in a directory is skipped", []string{"mixed"}, []string{"good.example"}, []string{"broken.pem"}},
		{"empty directory", []string{"empty"}, nil, []string{"no certificate files"}},
		{"missing path", []string{"missing.pem"}, nil, []string{"missing.pem"}},
		{"paths in order, failures skipped", []string{"missing.pem", "certs", "single.pem", "nokey.pem"},
			[]string{"a.example", "b.example", "c.example", "single.example"}, []string{"missing.pem", "nokey.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var paths []string
			for _, p := range tc.paths {
				paths = append(paths, filepath.Join(dir, p))
			}
			seen := map[string]bool{}
			certs, err := NewLoader(nil).Load(paths, seen)
			var got []string
			for _, c := range certs {
				got = append(got, cn(c))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("loaded %q, want %q", got, tc.want)
			}
			if len(tc.wantErr) == 0 && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not mention %q", err, w)
				}
			}
			for _, p := range paths {
				if !seen[p] {
					t.Errorf("%s not marked seen", p)
				}
			}
		})
	}
}

// countingLogger logs into a buffer the test reads (one goroutine only).
func countingLogger() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func TestLoaderCacheAndReload(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pem")
	bad := filepath.Join(dir, "bad.pem")
	writeCert(t, good, "one.example")
	mustWrite(t, bad, []byte("not a certificate"))
	log, logs := countingLogger()
	l := NewLoader(log)

	load := func() ([]*tls.Certificate, error) {
		t.Helper()
		seen := map[string]bool{}
		certs, err := l.Load([]string{good, bad}, seen)
		l.Forget(seen)
		return certs, err
	}
	c1, err1 := load()
	c2, err2 := load()
	if len(c1) != 1 || len(c2) != 1 || c1[0] != c2[0] {
		t.Fatalf("unchanged file parsed again: %v %v", c1, c2)
	}
	// The broken file is reported on every Load but logged once.
	if err1 == nil || err2 == nil || !strings.Contains(err2.Error(), "bad.pem") {
		t.Errorf("errors %v, %v: want bad.pem reported both times", err1, err2)
	}
	if n := strings.Count(logs.String(), "cannot load"); n != 1 || !strings.Contains(logs.String(), "bad.pem") {
		t.Errorf("%d failures logged, want bad.pem once:\n%s", n, logs.String())
	}

	// Changed files are read again: a renewed certificate, a repaired one.
	// Set the modification times explicitly: a coarse file system clock
	// must not hide the change.
	writeCert(t, good, "two.example")
	writeCert(t, bad, "repaired.example")
	later := time.Now().Add(time.Minute)
	os.Chtimes(good, later, later)
	os.Chtimes(bad, later, later)
	c3, err3 := load()
	if err3 != nil || len(c3) != 2 || cn(c3[0]) != "two.example" || cn(c3[1]) != "repaired.example" {
		t.Errorf("after the files changed: %v %v", c3, err3)
	}

	// A key file beside the certificate is part of its state.
	c, k := certtest.Generate(t, "split.example")
	split := filepath.Join(dir, "split.pem")
	mustWrite(t, split, c)
	if _, err := l.Load([]string{split}, nil); err == nil {
		t.Error("certificate without a key loaded")
	}
	mustWrite(t, split+".key", k)
	if certs, err := l.Load([]string{split}, nil); err != nil || len(certs) != 1 {
		t.Errorf("after adding the .key file: %v %v", certs, err)
	}

	// Forget drops paths no longer used; loading them again parses anew.
	l.Forget(map[string]bool{good: true})
	if len(l.files) != 1 || l.files[good] == nil {
		t.Errorf("after Forget: %d cached paths", len(l.files))
	}
	c4, _ := l.Load([]string{good}, nil)
	if len(c4) != 1 || c4[0] != c3[0] {
		t.Error("Forget dropped a path still in use")
	}
}
