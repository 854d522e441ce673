package httpproxy

import "github.com/signpost-dns/signpost/internal/lb/tlscerts"

// loadSet loads the crt arguments paths into one SNI set (nil when none
// loaded). A path that fails is logged by the loader and skipped: the
// HTTPS listeners go on with the certificates that did load, and fail the
// handshake when none did.
func loadSet(l *tlscerts.Loader, paths []string, seen map[string]bool) *tlscerts.Set {
	certs, _ := l.Load(paths, seen)
	return tlscerts.NewSet(certs)
}
