package routes

import (
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/internal/testutil/haproxycfg"
)

// The conformance test compares routing semantics, not text: testutil/haproxycfg
// reads the routing-relevant part of the Marathon-LB HAProxy configuration
// (the oracle's expected.cfg), and semOf reduces a route table to the same
// shape, haproxycfg.Config.

// semOf reduces a route table to the shape haproxycfg reads a configuration into.
func semOf(t *Table) *haproxycfg.Config {
	c := &haproxycfg.Config{}
	if t.HTTP != nil {
		s := &haproxycfg.Shared{Bind: t.HTTP.Listen.String()}
		for _, r := range t.HTTP.Auth {
			s.Auth = append(s.Auth, semAuth(r))
		}
		for _, r := range t.HTTP.Redirects {
			s.Redirect = append(s.Redirect, semMatch(r.Match))
		}
		for _, r := range t.HTTP.Routes {
			s.Route = append(s.Route, semRoute(r))
		}
		c.HTTP = s
	}
	if t.HTTPS != nil {
		s := &haproxycfg.Shared{Bind: t.HTTPS.Listen.String(), Certs: t.HTTPS.Certs}
		for _, r := range t.HTTPS.Auth {
			s.Auth = append(s.Auth, semAuth(r))
		}
		for _, r := range t.HTTPS.Routes {
			s.Route = append(s.Route, semRoute(r))
		}
		c.HTTPS = s
	}
	for _, r := range t.AppID.Routes {
		c.AppID.Rules = append(c.AppID.Rules, haproxycfg.AppRule{AppIDs: r.AppIDs, Backend: r.Backend.Name})
	}
	if t.AppID.Map != nil {
		c.AppID.Map = names(t.AppID.Map)
	}
	for _, s := range t.Services {
		b := s.Backend
		c.Frontends = append(c.Frontends, haproxycfg.Frontend{Name: b.Name, Bind: s.Listen.String(), Mode: string(s.Mode),
			SSLCert: s.SSLCert, BindOptions: s.BindOptions, Backend: b.Name})
		sb := haproxycfg.Backend{Name: b.Name, Mode: string(b.Mode), Balance: b.Balance}
		if b.Sticky {
			sb.Cookie = StickyCookie
		}
		if b.HTTP != nil {
			sb.HTTPOptions = true
			sb.HSTS = b.HTTP.HSTS
			if b.HTTP.ProxyPassPath != "" {
				sb.ProxyPass = b.HTTP.ProxyPassHost + " " + b.HTTP.ProxyPassPath
			}
			if b.HTTP.RevProxyPath != "" {
				sb.RevProxy = b.HTTP.RevProxyHost + " " + b.HTTP.RevProxyPath
			}
			if r := b.HTTP.RootRedirect; r != nil {
				sb.RootRedirect = strings.Join(r.Hosts, ",") + " " + r.Location
			}
		}
		if h := b.HealthCheck; h != nil && !h.Implicit && h.Type == CheckHTTP {
			sb.HTTPCheck = "GET " + h.Path
			sb.CheckTimeout = strconv.Itoa(int(h.Timeout.Seconds())) + "s"
		}
		for _, p := range b.AllowedNetworks {
			if p.Bits() == p.Addr().BitLen() {
				sb.Networks = append(sb.Networks, p.Addr().String())
			} else {
				sb.Networks = append(sb.Networks, p.String())
			}
		}
		if len(b.AllowedNetworks) > 0 {
			sb.NetworkAction = string(b.Mode)
		}
		for _, sv := range b.Servers {
			ss := haproxycfg.Server{Name: sv.Name, Addr: sv.HostPort, ID: sv.ID, CheckPort: sv.CheckPort,
				Cookie: sv.Cookie, Disabled: sv.Draining, Checked: b.HealthCheck != nil}
			if h := b.HealthCheck; h != nil && !h.Implicit {
				ss.Check = "inter " + strconv.Itoa(int(h.Interval.Seconds())) + "s fall " + strconv.Itoa(h.Fall)
			}
			sb.Servers = append(sb.Servers, ss)
		}
		c.Backends = append(c.Backends, sb)
		if b.Auth != nil && b.Auth.Userlist != nil {
			u := haproxycfg.Userlist{Name: b.Auth.Userlist.Name}
			for _, usr := range b.Auth.Userlist.Users {
				kw := "password"
				if usr.Insecure {
					kw = "insecure-password"
				}
				u.Users = append(u.Users, usr.Name+" "+kw+" "+usr.Password)
			}
			c.Userlists = append(c.Userlists, u)
		}
	}
	return c
}

func semMatch(m Match) haproxycfg.Rule {
	r := haproxycfg.Rule{Hosts: m.Hosts}
	for _, p := range m.Paths {
		r.Paths = append(r.Paths, haproxycfg.Path{Prefix: p.Prefix, IgnoreCase: p.IgnoreCase})
	}
	return r
}

func semAuth(a AuthRule) haproxycfg.Rule {
	r := semMatch(a.Match)
	r.Realm = a.Realm
	for _, u := range a.Userlists {
		r.Userlists = append(r.Userlists, u.Name)
	}
	return r
}

func semRoute(rr RouteRule) haproxycfg.Rule {
	if rr.Map != nil {
		return haproxycfg.Rule{Map: names(rr.Map)}
	}
	r := semMatch(rr.Match)
	r.Backend = rr.Backend.Name
	return r
}

func names(m map[string]*Backend) map[string]string {
	out := make(map[string]string, len(m))
	for k, b := range m {
		out[k] = b.Name
	}
	return out
}
