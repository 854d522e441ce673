// Package records turns a Mesos cluster snapshot into the record set
// Mesos-DNS would serve for it: a pure function, so that it can be tested
// with tables and golden files and run off the serving path.
package records

import (
	"net/netip"
	"time"
)

// Table is one complete, immutable record set for a domain, built from one
// snapshot. Servers swap whole tables; nothing ever modifies one after Build
// returns it.
//
// Every name is a lower-case FQDN with a trailing dot ("web.marathon.mesos."),
// with one exception kept from Mesos-DNS: the legacy records under a task's
// raw DiscoveryInfo name use that name verbatim, so one with upper case or
// other odd bytes is stored as is and, queries being lower-cased, cannot be
// reached (it still shows in AXFR and enumerate output, as in Mesos-DNS).
// Value lists are deduplicated (Mesos-DNS keeps sets) and sorted (addresses
// in netip order, SRV by target then port, PTR by name), so that a table is
// a deterministic function of its input; servers rotate answers per query
// themselves. Build (in build.go) makes tables.
type Table struct {
	// Domain is the zone apex, "mesos.".
	Domain string
	// A and AAAA map names to IPv4 and IPv6 addresses.
	A    map[string][]netip.Addr
	AAAA map[string][]netip.Addr
	// SRV maps names to targets.
	SRV map[string][]SRV
	// PTR maps reverse names ("4.3.2.1.in-addr.arpa.") to the names an IP
	// belongs to (Signpost's addition; empty when ptrOn is false).
	PTR map[string][]string
	// Frameworks lists every framework with its eligible tasks and the
	// records each task introduced, for /v1/enumerate.
	Frameworks []Framework
	// Serial is the SOA serial: the Unix time the table was built.
	Serial uint32
	// Built is when Build ran; Source is when the snapshot was taken.
	Built time.Time
}

// SRV is one SRV target. Priority is always 0 and the weight comes from
// configuration, as in Mesos-DNS.
type SRV struct {
	Target string
	Port   uint16
}

// Framework is one framework in /v1/enumerate.
type Framework struct {
	// Name is the framework's name as Mesos reports it (not sanitised).
	Name  string
	Tasks []Task
}

// Task is one task in /v1/enumerate, with the records it introduced (a
// record is listed only under the first task that introduced it).
type Task struct {
	// Name is the task's name as Mesos reports it (not sanitised).
	Name    string
	ID      string
	Records []Record
}

// Record is one record in /v1/enumerate: Host is an IP for A/AAAA and
// "target:port" for SRV.
type Record struct {
	Name  string
	Host  string
	RType string
}

// Has reports whether name has any A, AAAA or SRV record, which decides
// between NXDOMAIN and NODATA.
func (t *Table) Has(name string) bool {
	return len(t.A[name]) > 0 || len(t.AAAA[name]) > 0 || len(t.SRV[name]) > 0
}

// Counts returns the number of names and values per type, for metrics.
func (t *Table) Counts() map[string][2]int {
	count := func(n int, values int) [2]int { return [2]int{n, values} }
	sum := func(m map[string][]netip.Addr) int {
		n := 0
		for _, v := range m {
			n += len(v)
		}
		return n
	}
	srv := 0
	for _, v := range t.SRV {
		srv += len(v)
	}
	ptr := 0
	for _, v := range t.PTR {
		ptr += len(v)
	}
	return map[string][2]int{
		"A":    count(len(t.A), sum(t.A)),
		"AAAA": count(len(t.AAAA), sum(t.AAAA)),
		"SRV":  count(len(t.SRV), srv),
		"PTR":  count(len(t.PTR), ptr),
	}
}
