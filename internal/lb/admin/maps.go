package admin

import (
	"sort"
	"strings"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// VhostMap renders Marathon-LB's domain2backend.map: one "<host> <backend>"
// line per host name routed through --haproxy-map's lookup, in Marathon-LB's
// order (services by app id and service port, host names in VHOST label
// order). Without --haproxy-map, or for a nil table, it is empty, as
// Marathon-LB truncates the file then: the other vhosts are routed by the
// rules /_haproxy_getconfig shows, not by a map.
//
// Differences from the file Marathon-LB writes: host names are lower-cased
// (Marathon-LB writes the label as given, and its lookup, which lower-cases
// the Host header, then never finds an upper-case entry; Signpost routes
// it), a VHOST entry with several words gives one line per word, and when
// two services claim one host name only the line that routes is listed
// (Marathon-LB writes both; HAProxy uses the first).
func VhostMap(t *routes.Table) []byte {
	if t == nil {
		return nil
	}
	m := vhostMap(t)
	if m == nil {
		return nil
	}
	var b strings.Builder
	done := make(map[string]bool, len(m))
	for _, s := range t.Services {
		if s == nil || s.Backend == nil {
			continue
		}
		for _, h := range s.Backend.Vhosts {
			if !done[h] && m[h] == s.Backend {
				done[h] = true
				mapLine(&b, h, s.Backend)
			}
		}
	}
	rest(&b, m, done)
	return []byte(b.String())
}

// AppMap renders Marathon-LB's app2backend.map: "<app id> <backend>" for
// the first http service of every app, in (app id, service port) order.
// Empty without --haproxy-map or for a nil table, as in Marathon-LB.
func AppMap(t *routes.Table) []byte {
	if t == nil || t.AppID == nil || t.AppID.Map == nil {
		return nil
	}
	m := t.AppID.Map
	var b strings.Builder
	done := make(map[string]bool, len(m))
	for _, s := range t.Services {
		if s == nil || s.Backend == nil {
			continue
		}
		id := s.Backend.AppID
		if !done[id] && m[id] == s.Backend {
			done[id] = true
			mapLine(&b, id, s.Backend)
		}
	}
	rest(&b, m, done)
	return []byte(b.String())
}

// vhostMap is the map of the catch-all rule of the HTTP frontend, else of
// the HTTPS frontend (the builder shares one map between them).
func vhostMap(t *routes.Table) map[string]*routes.Backend {
	if t.HTTP != nil {
		for _, r := range t.HTTP.Routes {
			if r.Map != nil {
				return r.Map
			}
		}
	}
	if t.HTTPS != nil {
		for _, r := range t.HTTPS.Routes {
			if r.Map != nil {
				return r.Map
			}
		}
	}
	return nil
}

// rest lists, sorted, the entries not reached through the services: none
// for a table from routes.Build, but a map must never lose a route.
func rest(b *strings.Builder, m map[string]*routes.Backend, done map[string]bool) {
	var keys []string
	for k := range m {
		if !done[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		mapLine(b, k, m[k])
	}
}

func mapLine(b *strings.Builder, key string, be *routes.Backend) {
	name := "<none>"
	if be != nil {
		name = be.Name
	}
	b.WriteString(clean(key))
	b.WriteByte(' ')
	b.WriteString(clean(name))
	b.WriteByte('\n')
}
