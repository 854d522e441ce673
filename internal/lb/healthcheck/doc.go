// Package healthcheck runs the active health checks of `signpost lb`: the
// checks HAProxy would run from the "check" lines Marathon-LB writes
// (spec/marathon-lb.md §5.6), described per backend by
// routes.Backend.HealthCheck. The data planes ask Checker.Up before they
// send a new connection or request to a server.
//
// # What is probed
//
// Every server of a backend that has a HealthCheck is probed at its
// address's IP, on Server.CheckPort when non-zero (Marathon's explicit check
// port or HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX), else on its own port:
//
//   - tcp: the check passes when a TCP connection opens.
//   - http: "GET <Path> HTTP/1.0" and an empty line, no Host header — byte
//     for byte what HAProxy 2.6 sends for "option httpchk GET <Path>"
//     (TestHTTPRequestMatchesHAProxy compares them); a 2xx or 3xx status
//     line passes, anything else (another status, no answer, a closed
//     connection, something that is not HTTP) fails.
//
// Timeout bounds a whole check, connect and status line together. (HAProxy
// bounds the connect by min("timeout connect", inter) and then waits
// "timeout check" more for the answer; one bound is simpler and never
// looser.) Probe connections are closed with a reset (SO_LINGER 0), as
// HAProxy closes its checks, so that thousands of checks a second leave no
// TIME_WAIT sockets behind.
// Servers of a backend without a HealthCheck, and servers whose address is
// unresolved, are never probed and always up.
//
// # UP and DOWN
//
// The state machine is HAProxy's (check.c, set_server_check_status): an UP
// server goes DOWN after Fall consecutive failed checks, a DOWN server comes
// back UP after Rise consecutive passed checks, and one result of the other
// kind resets the count.
//
// A server seen for the first time starts UP but "going down": its first
// failed check takes it DOWN at once, whatever Fall says, and its first
// passed check makes it fully UP. That is exactly how HAProxy starts a
// server ("up, but will fall down at first failure"; confirmed against
// HAProxy 2.6 with "fall 5": DOWN after the first refused check). It is
// chosen here, rather than starting new servers DOWN until Rise checks
// pass, because:
//
//   - it does not hold up deployments: with --health-check Marathon-LB lists
//     a task only once Marathon says it is healthy, and its users expect the
//     task to take traffic from then on, not Rise × Interval later (2 × 60 s
//     with Marathon's default interval); without --health-check HAProxy sends
//     traffic to a new task at once as well;
//   - starting DOWN would empty every backend whenever `signpost lb` starts
//     (HAProxy avoids that with its server-state file; there is none here)
//     until the first round of checks, which for 10,000 servers and a
//     bounded number of probes in flight is not instant;
//   - a dead new task costs little: its first check is not left for a whole
//     Interval but runs within Options.FirstCheck (default 1 s) of it
//     appearing, one failure takes it out, and meanwhile a refused connect is
//     retried on another server by the data planes.
//
// # Scale
//
// One scheduler goroutine keeps every probe in a heap ordered by due time;
// a probe runs in a goroutine of its own only while it is in flight, and at
// most Options.MaxInFlight are (so a large cluster can exhaust neither file
// descriptors nor ephemeral ports). After each check the next one is due
// Interval later, give or take Options.Spread (5 % by default, Marathon-LB's
// "spread-checks 5"), and the first checks of a table's new servers are
// spread over Options.FirstCheck, so 10,000 servers do not probe in
// lockstep.
//
// Backends that probe the same target the same way share one probe: a
// Marathon check with an explicit port applies to every port of the app, so
// its backends would otherwise check the same socket once each. The timing
// (Interval, Timeout, Fall, Rise) of a shared probe is that of the first of
// those backends in table order; they come from the same Marathon check.
//
// State is keyed by what is probed (target address, type and path), not by
// table generation: a server that stays across Apply keeps its state and
// schedule, a removed server's probe stops (one in flight is cancelled),
// and a server whose check target or kind changed starts afresh.
//
// Up is the hot path of both data planes: one atomic load of an immutable
// map that Apply replaces, one map lookup and one atomic load; it never
// takes a lock.
package healthcheck
