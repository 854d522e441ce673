package httpproxy

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// parseBasic decodes "Basic <base64(user:pass)>".
func parseBasic(v []byte) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(v) < len(prefix) || !eqFold(v[:len(prefix)], prefix) {
		return "", "", false
	}
	dec, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(v[len(prefix):])))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(dec), ":")
	return
}

// checkUserlist reports whether user/pass is valid for ul.
//
// Verified schemes: "insecure-password" (clear text), SHA-256 crypt ("$5$")
// and SHA-512 crypt ("$6$") — the latter is what Marathon-LB's AUTH label
// documents (mkpasswd -m sha-512). MD5 crypt ("$1$"), bcrypt and DES crypt
// are not implemented and never match, so such users are refused (a 401,
// never an unchecked pass).
func checkUserlist(ul *routes.Userlist, user, pass string) bool {
	if ul == nil {
		return false
	}
	for _, u := range ul.Users {
		if u.Name != user {
			continue
		}
		if u.Insecure {
			if subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) == 1 {
				return true
			}
			continue
		}
		if verifyCrypt(u.Password, pass) {
			return true
		}
	}
	return false
}
