package records

import (
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

// FuzzBuild decodes arbitrary bytes as a Mesos state and builds tables from
// it with the fixture configurations: Build must not panic, and every table
// must pass checkTable (names in the domain, sorted unique values, SRV
// targets that resolve except legacy raw-DiscoveryInfo ones, PTRs that
// resolve back, every framework enumerated).
//
//	go test ./internal/dns/records -run '^$' -fuzz FuzzBuild -fuzztime 60s
func FuzzBuild(f *testing.F) {
	f.Add(readFile(f, "testdata/mesos-dns/fake.json"))
	for _, s := range []string{
		`{}`,
		`{"leader":"master@[::1]:5050","slaves":[{"id":"a-S1","pid":"slave(1)@[fd00::1]:5051"}],` +
			`"frameworks":[{"id":"f","name":"Web.Prod","pid":"x@localhost:1","tasks":[` +
			`{"id":"t1","name":"a.b","slave_id":"a-S1","state":"TASK_RUNNING","resources":{"ports":"[1-3]"},` +
			`"discovery":{"name":"Raw Name","ports":{"ports":[{"number":80,"name":"Http"},{"number":53,"protocol":"UDP"}]}},` +
			`"statuses":[{"state":"TASK_RUNNING","timestamp":2,"healthy":false,"container_status":{"network_infos":[{"ip_address":"10.0.0.1"}]}}]}]}]}`,
		`{"leader":"garbage","slaves":[{"id":"x","pid":"bad"},{"id":"y","pid":"s@nowhere:1"}],"frameworks":[{"id":"f","hostname":"","tasks":[{"id":"t","slave_id":"x","state":"TASK_RUNNING"}]}]}`,
		`{"leader":"master@1.2.3.4:5","slaves":[{"id":"s-0","pid":"slave(1)@1.2.3.4:5051"}],"frameworks":[{"id":"f","name":"","tasks":[{"id":"t","name":"","slave_id":"s-0","state":"TASK_RUNNING","discovery":{"name":"web"}}]}]}`,
	} {
		f.Add([]byte(s))
	}
	configs := []Config{
		fixtureConfig(false, "netinfo", "mesos", "host"),
		fixtureConfig(true, "docker", "host"),
	}
	configs[0].HealthFilter, configs[0].PTROn = true, true
	configs[1].Masters = []string{"localhost:5050", "[::1]:5050", "bad"}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, _, err := mesosstate.Decode(data)
		if err != nil {
			return
		}
		// Every host port becomes four SRV values, and checkTable is
		// quadratic in the values of a name: keep inputs small enough to
		// run thousands of them a second.
		if ports(st) > 4096 {
			return
		}
		for _, cfg := range configs {
			tb, _ := Build(st, cfg)
			checkTable(t, st, tb)
			if len(cfg.NSAddrs) > 0 && len(tb.A["ns1.mesos."]) == 0 {
				t.Errorf("ns1.mesos. missing")
			}
		}
	})
}

func ports(st *cluster.MesosState) int {
	n := 0
	for _, f := range st.Frameworks {
		for _, t := range f.Tasks {
			for _, r := range t.Ports {
				n += max(r.End-r.Begin+1, 0)
			}
			if t.Discovery != nil {
				n += len(t.Discovery.Ports)
			}
		}
	}
	return n
}
