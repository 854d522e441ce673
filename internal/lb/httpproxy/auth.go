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

// checkUserlist reports whether user/pass is valid for ul: "insecure-password"
// users compare the clear text; every other password is a crypt(3) hash
// checked by v (verify.go; see crypt.go for the schemes; one it cannot
// verify never matches, so such users get a 401, never an unchecked pass).
func checkUserlist(v *verifier, ul *routes.Userlist, user, pass string) bool {
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
		if v.check(u.Password, pass) {
			return true
		}
	}
	return false
}
