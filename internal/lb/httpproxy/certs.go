package httpproxy

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

// certSet is the certificates of one TLS listener (or one vhost with
// --group-https-by-vhost), with HAProxy's choice by SNI: an exact name of a
// certificate, then a wildcard one, else the first certificate.
type certSet struct {
	certs []*tls.Certificate
	exact map[string]*tls.Certificate
	wild  map[string]*tls.Certificate // "*.example.com" under "example.com"
}

func newCertSet(certs []*tls.Certificate) *certSet {
	if len(certs) == 0 {
		return nil
	}
	cs := &certSet{certs: certs, exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for _, c := range certs {
		if c.Leaf == nil {
			continue
		}
		names := c.Leaf.DNSNames
		if cn := c.Leaf.Subject.CommonName; cn != "" {
			names = append(names[:len(names):len(names)], cn)
		}
		for _, n := range names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
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

// pick chooses the certificate for a TLS server name.
func (cs *certSet) pick(sni string) *tls.Certificate {
	sni = strings.ToLower(strings.TrimSuffix(sni, "."))
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

var errNoCert = errors.New("httpproxy: no certificate for this listener")

// certLoader loads HAProxy "crt" arguments and keeps them until their files
// change, so that an Apply with the same certificates does no parsing.
type certLoader struct {
	log   *slog.Logger
	files map[string]*loadedCrt
}

type loadedCrt struct {
	stamp string
	certs []*tls.Certificate
}

// load returns the certificates of the crt arguments paths, in order. A
// path whose files changed (or that is new) is read again; one that fails
// is logged (once per change) and contributes nothing, so the others are
// still served.
func (l *certLoader) load(paths []string, seen map[string]bool) []*tls.Certificate {
	var out []*tls.Certificate
	for _, p := range paths {
		seen[p] = true
		stamp := crtStamp(p)
		lc := l.files[p]
		if lc == nil || lc.stamp != stamp {
			certs, err := loadCrt(p)
			if err != nil {
				l.log.Error("cannot load TLS certificate; skipping it", "path", p, "err", err)
			}
			lc = &loadedCrt{stamp: stamp, certs: certs}
			l.files[p] = lc
		}
		out = append(out, lc.certs...)
	}
	return out
}

// forget drops the cache entries of paths no longer used.
func (l *certLoader) forget(seen map[string]bool) {
	for p := range l.files {
		if !seen[p] {
			delete(l.files, p)
		}
	}
}

// crtStamp identifies the state of a crt path (a file, or a directory and
// its files) by names, sizes and modification times.
func crtStamp(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return "error"
	}
	if !fi.IsDir() {
		return fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
	}
	var b strings.Builder
	files, _ := crtDirFiles(p)
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d;", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// crtDirFiles lists what HAProxy loads from a crt directory: every regular
// file in name order, except hidden ones and the side files HAProxy reads
// alongside a certificate (.key, .issuer, .ocsp, .sctl).
func crtDirFiles(dir string) ([]string, error) {
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

// loadCrt loads a crt argument: a PEM file with the certificate chain and
// its key (else a "<file>.key" beside it, as HAProxy does), or a directory
// of such files. In a directory, a file that fails is skipped and reported
// in the error while the others load.
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
	files, err := crtDirFiles(p)
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
