// Package tlscerts loads the certificates of HAProxy "crt" arguments and
// chooses among them by SNI, as HAProxy does, for every TLS listener of
// `signpost lb`: the shared HTTPS frontend (--ssl-certs), its vhosts with
// --group-https-by-vhost, and the per-app frontends of HAPROXY_{n}_SSL_CERT
// in http and tcp mode.
//
// A "crt" argument is a PEM file holding the certificate chain and its
// private key (else the key is read from "<file>.key" beside it), or a
// directory, every regular file of which is loaded in name order. A Loader
// keeps what it parsed until the files change, so that re-applying the same
// table costs a few stat calls rather than parsing every certificate again.
//
// A broken file never takes the others down: it is reported (logged once
// per change, and returned by Load) and contributes nothing, while the
// other files load. What a listener does without any certificate is its
// owner's decision (httpproxy fails the handshake; tcpproxy refuses the
// connection rather than serve it in clear).
package tlscerts

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoCertificate is what a GetCertificate callback returns when its
// listener has no usable certificate.
var ErrNoCertificate = errors.New("tlscerts: no certificate for this listener")

// Set is the certificates of one TLS listener (or of one vhost with
// --group-https-by-vhost), with HAProxy's choice by SNI: a certificate
// whose name matches exactly, then one whose wildcard matches, else the
// first certificate. A Set is immutable and safe for concurrent use.
type Set struct {
	certs []*tls.Certificate
	exact map[string]*tls.Certificate
	wild  map[string]*tls.Certificate // "*.example.com" under "example.com"
}

// NewSet indexes certs by the DNS names and common name of their leaf. It
// returns nil when certs is empty, so "no certificate" is a nil *Set.
func NewSet(certs []*tls.Certificate) *Set {
	if len(certs) == 0 {
		return nil
	}
	cs := &Set{certs: certs, exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for _, c := range certs {
		if c.Leaf == nil {
			continue
		}
		names := c.Leaf.DNSNames
		if cn := c.Leaf.Subject.CommonName; cn != "" {
			names = append(names[:len(names):len(names)], cn)
		}
		for _, n := range names {
			n = normalize(n)
			m, key := cs.exact, n
			if strings.HasPrefix(n, "*.") {
				m, key = cs.wild, n[2:]
			}
			if _, dup := m[key]; !dup { // the first certificate wins
				m[key] = c
			}
		}
	}
	return cs
}

// Len is the number of certificates in the set (0 for a nil Set).
func (cs *Set) Len() int {
	if cs == nil {
		return 0
	}
	return len(cs.certs)
}

// Pick chooses the certificate for a TLS server name (case and a trailing
// dot do not matter; an empty name gets the first certificate). A nil Set
// picks nil.
func (cs *Set) Pick(sni string) *tls.Certificate {
	if cs == nil {
		return nil
	}
	sni = normalize(sni)
	if sni != "" {
		if c := cs.exact[sni]; c != nil {
			return c
		}
		if i := strings.IndexByte(sni, '.'); i > 0 {
			if c := cs.wild[sni[i+1:]]; c != nil {
				return c
			}
		}
	}
	return cs.certs[0]
}

// GetCertificate is a tls.Config.GetCertificate callback over cs; a nil Set
// fails every handshake with ErrNoCertificate.
func (cs *Set) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cs == nil {
		return nil, ErrNoCertificate
	}
	return cs.Pick(h.ServerName), nil
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// Loader loads "crt" arguments and keeps them until their files change. It
// is not safe for concurrent use: its owner calls it from its (serialised)
// Apply.
type Loader struct {
	log   *slog.Logger
	files map[string]*loaded
}

type loaded struct {
	stamp string
	certs []*tls.Certificate
	err   error
}

// NewLoader returns a Loader that logs a path failing to load once per
// change of its files; a nil log only returns the errors.
func NewLoader(log *slog.Logger) *Loader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Loader{log: log, files: map[string]*loaded{}}
}

// Load returns the certificates of the crt arguments paths, in order, and
// marks each path in seen (for Forget). A path whose files changed, or that
// is new, is read again; one that fails (in part, for a directory) is
// logged when that happens and reported in the returned error on every
// call while it stays broken, and contributes what could be loaded, so the
// other paths are still served.
func (l *Loader) Load(paths []string, seen map[string]bool) ([]*tls.Certificate, error) {
	var out []*tls.Certificate
	var errs []error
	for _, p := range paths {
		if seen != nil {
			seen[p] = true
		}
		stamp := stampOf(p)
		lc := l.files[p]
		if lc == nil || lc.stamp != stamp {
			certs, err := loadCrt(p)
			if err != nil {
				l.log.Error("cannot load TLS certificate; skipping it", "path", p, "err", err)
			}
			lc = &loaded{stamp: stamp, certs: certs, err: err}
			l.files[p] = lc
		}
		out = append(out, lc.certs...)
		if lc.err != nil {
			errs = append(errs, lc.err)
		}
	}
	return out, errors.Join(errs...)
}

// Forget drops what was loaded for the paths not in seen, the ones no
// longer used by the table.
func (l *Loader) Forget(seen map[string]bool) {
	for p := range l.files {
		if !seen[p] {
			delete(l.files, p)
		}
	}
}

// stampOf identifies the state of a crt path (a file, or a directory and
// its files, with the "<file>.key" companions) by names, sizes and
// modification times.
func stampOf(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return "error"
	}
	var b strings.Builder
	stampFile := func(f string) {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d;", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	if !fi.IsDir() {
		fmt.Fprintf(&b, "%d %d;", fi.Size(), fi.ModTime().UnixNano())
		stampFile(p + ".key")
		return b.String()
	}
	files, _ := dirFiles(p)
	for _, f := range files {
		stampFile(f)
		stampFile(f + ".key")
	}
	return b.String()
}

// dirFiles lists what HAProxy loads from a crt directory: every regular
// file in name order, except hidden ones and the side files HAProxy reads
// alongside a certificate (.key, .issuer, .ocsp, .sctl).
func dirFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || e.IsDir() {
			continue
		}
		switch filepath.Ext(n) {
		case ".key", ".issuer", ".ocsp", ".sctl":
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out, nil
}

// loadCrt loads a crt argument: a PEM file, or a directory of them. In a
// directory, a file that fails is skipped and reported in the error while
// the others load.
func loadCrt(p string) ([]*tls.Certificate, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		c, err := loadPEM(p)
		if err != nil {
			return nil, err
		}
		return []*tls.Certificate{c}, nil
	}
	files, err := dirFiles(p)
	if err != nil {
		return nil, err
	}
	var out []*tls.Certificate
	var errs []error
	for _, f := range files {
		c, err := loadPEM(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no certificate files in directory", p))
	}
	return out, errors.Join(errs...)
}

// loadPEM loads one PEM file with its chain and key, else the key from
// "<file>.key" beside it, as HAProxy does.
func loadPEM(f string) (*tls.Certificate, error) {
	data, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	keyPEM := data
	if !hasKey(data) {
		k, kerr := os.ReadFile(f + ".key")
		if kerr != nil {
			return nil, fmt.Errorf("%s: no private key in the file and no %s.key beside it", f, filepath.Base(f))
		}
		keyPEM = k
	}
	c, err := tls.X509KeyPair(data, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	return &c, nil
}

func hasKey(data []byte) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return true
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return false
		}
	}
}
