package routes

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// sanitize replaces every character outside [a-zA-Z0-9-] by "_", one per
// code point, as Marathon-LB's re.sub(r'[^a-zA-Z0-9\-]', '_', s) does for
// ACL and server names.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < 0x80 && nameByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// backendName is Marathon-LB's backend (and per-app frontend) name: the app
// id without its leading "/", "/" turned into "_", then "_<servicePort>".
// It is the identity operators know from HAProxy stats and logs, so Signpost
// keeps it for metrics and for the ZDD tooling that reads drained servers.
func backendName(appID string, servicePort int) string {
	return strings.ReplaceAll(strings.TrimPrefix(appID, "/"), "/", "_") + "_" + strconv.Itoa(servicePort)
}

// aclAppPart is the app-id suffix of vhost ACL names ("host_<vhost>_<part>").
// It is not sanitised (only "/" is replaced), exactly like Marathon-LB, which
// matters because equal ACL names merge (see frontend.go).
func aclAppPart(appID string) string {
	return strings.ReplaceAll(strings.TrimPrefix(appID, "/"), "/", "_")
}

// serverName is Marathon-LB's server name: sanitised "<host>_<ip>_<port>",
// or "<ip>_<port>" when the task host is the IP itself. HAProxy's
// server-state file and zdd.py's drain detection key on it, and the sticky
// cookie value is derived from it, so it must not change between versions.
func serverName(host, ip string, port int) string {
	if host != ip {
		return sanitize(host + "_" + ip + "_" + strconv.Itoa(port))
	}
	return sanitize(ip + "_" + strconv.Itoa(port))
}

// stickyCookie is the value of the mesosphere_server_id cookie for a server:
// the first ten hex digits of sha1(serverName). Keeping Marathon-LB's value
// means clients pinned by Marathon-LB stay pinned after the switch.
func stickyCookie(name string) string {
	sum := sha1.Sum([]byte(name))
	return hex.EncodeToString(sum[:])[:10]
}

// serverIDModulus bounds HAProxy server ids to a positive int16 (Marathon-LB
// explains why: HAProxy parses them with atol into an int).
const serverIDModulus = 32767

// serverID is Marathon-LB's stable server id: int(sha256(name)) % 32767; a
// collision with an id already taken in the same backend, or 0, retries with
// "<name> <hexdigest>". Ids must be assigned in server order for the result
// to match Marathon-LB's.
func serverID(name string, taken map[int]struct{}) int {
	for {
		sum := sha256.Sum256([]byte(name))
		id := 0
		for _, b := range sum {
			id = (id*256 + int(b)) % serverIDModulus
		}
		if _, dup := taken[id]; !dup && id > 0 {
			taken[id] = struct{}{}
			return id
		}
		name = name + " " + hex.EncodeToString(sum[:])
	}
}
