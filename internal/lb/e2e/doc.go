// Package e2e holds the acceptance tests of `signpost lb` (issue 4): the
// real binary, run as an operator would run it, in front of `signpost sim
// -run-tasks`, reached over real sockets.
//
// The tests answer one question per label and flag of Marathon-LB: which
// request reaches which task. Tasks answer with their own id (see
// internal/sim/taskrun), so a test never trusts the load balancer's own
// account of its routes, only where traffic lands.
//
// Three kinds of tests live here:
//
//   - Conformance: each case of fixtures/marathon-lb/conformance whose
//     expected.cfg (the HAProxy configuration the real Marathon-LB generated)
//     expresses routing is loaded into the simulator, and every rule of that
//     configuration is turned into requests whose destination the
//     configuration decides. The case's addresses are adapted so that
//     everything runs on this machine without clashing with other tests:
//     every task IP becomes a loopback address of a /24 chosen at random for
//     the test (127.R.S.n, in the order of the original addresses), every
//     service port becomes a free port (also in HAPROXY_{n}_PORT and
//     HAPROXY_DEPLOYMENT_ALT_PORT), certificate paths become generated
//     certificates, and task ports are kept. The simulator does not run
//     tasks loaded from a state file, so the test runs them itself with the
//     simulator's task code (taskrun). TestConformanceOracle runs the same
//     requests against real HAProxy loaded with the adapted expected.cfg, so
//     the checker itself is checked against the oracle.
//   - Labels and flags on a live simulator: apps are created through the
//     simulated Marathon API and served by the simulator's real tasks.
//   - Changes without drops and Marathon failures: connections held through
//     scale-downs and deploys, Marathon going away, failing, changing leader
//     and sending malformed events (through a proxy the test controls).
//
// SIGNPOST_E2E_BIN=/path/to/signpost runs the tests against a prebuilt
// binary instead of building ./cmd/signpost.
//
// Nothing here depends on timing beyond generous deadlines: tests poll for
// eventual states and assert bounds with margins.
package e2e
