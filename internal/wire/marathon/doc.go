// Package marathon decodes and encodes Marathon's REST and event-bus JSON
// (/v2/apps, /v2/apps/{id}, /v2/tasks, /v2/info, /v2/events payloads) to and
// from the shared cluster model.
//
// The decoder accepts every generation of the app format a discovery
// consumer meets in the wild — Marathon ≤1.4 "ports"/"portDefinitions" and
// container.docker.portMappings, the 1.0–1.4 "ipAddress" IP-per-task
// definition, and ≥1.5 "networks" with container.portMappings — and keeps
// each in its own model field so that consumers can apply Marathon-LB's
// precedence rules. It ignores every field it does not need, so new Marathon
// fields never break it, but it is strict about the shape of the fields it
// reads: one malformed app or task is skipped and reported, the rest of the
// cluster still decodes, because a load balancer that drops every backend
// over one bad label is worse than one that drops one app.
//
// Decoded values are normalised: empty arrays and objects become nil,
// Marathon's documented defaults are filled in for absent fields (container
// type DOCKER, network mode "container", port protocol "tcp", IP protocol
// "IPv4", health-check protocol HTTP and timings, one instance), relative app
// ids become absolute, and null counts as absent. The encoders write every
// field the decoder reads, so decoding what was encoded gives back the same
// model.
package marathon
