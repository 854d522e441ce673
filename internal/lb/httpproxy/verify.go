package httpproxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync"
)

// verifier checks crypt(3) passwords for the auth rules without letting them
// cost a core per request. HAProxy runs crypt in its event loop for every
// request that carries credentials; a SHA-512 hash with Marathon-LB's
// default 5,000 rounds takes about 1 ms, a high-cost one up to the caps in
// crypt.go (about 1 s), so a client that keeps sending credentials could
// keep every core busy. Two defences:
//
//   - A successful check is remembered, so a keep-alive client with good
//     credentials pays for crypt once, not per request. The cache holds
//     HMAC-SHA256 digests under a key drawn when the proxy starts, never
//     the passwords: a memory dump does not give a fast offline test of a
//     guess. Failures are not cached (a wrong password stays slow), and the
//     cache is bounded; when full it starts over.
//   - At most GOMAXPROCS checks run at once; the others wait, so the proxy
//     keeps serving requests that need no check.
type verifier struct {
	key  [32]byte
	slot chan struct{}

	mu sync.Mutex
	ok map[[32]byte]struct{}
}

// maxVerified bounds the cache of successful checks.
const maxVerified = 4096

func newVerifier() *verifier {
	v := &verifier{slot: make(chan struct{}, runtime.GOMAXPROCS(0)), ok: make(map[[32]byte]struct{})}
	rand.Read(v.key[:])
	return v
}

// check reports whether pass matches the crypt(3) hash hashed.
func (v *verifier) check(hashed, pass string) bool {
	m := hmac.New(sha256.New, v.key[:])
	m.Write([]byte(hashed))
	m.Write([]byte{0})
	m.Write([]byte(pass))
	var d [32]byte
	m.Sum(d[:0])
	v.mu.Lock()
	_, hit := v.ok[d]
	v.mu.Unlock()
	if hit {
		return true
	}
	v.slot <- struct{}{}
	good := verifyCrypt(hashed, pass)
	<-v.slot
	if good {
		v.mu.Lock()
		if len(v.ok) >= maxVerified {
			clear(v.ok)
		}
		v.ok[d] = struct{}{}
		v.mu.Unlock()
	}
	return good
}
