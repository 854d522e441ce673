package mesosstate

import (
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// Real json.info_<seq> contents, as published from running masters.
const (
	masterInfoLocal = `{"address":{"hostname":"localhost","ip":"127.0.0.1","port":5050},"hostname":"localhost","id":"685fe32d-e30c-4df7-b891-3d96b06fee88","ip":16777343,"pid":"master@127.0.0.1:5050","port":5050,"version":"1.4.0"}`
	masterInfoLAN   = `{"address":{"hostname":"192.168.1.232","ip":"192.168.1.232","port":5050},"hostname":"192.168.1.232","id":"bd5969e1-d8d3-492c-abfc-3b2367465209","ip":3892422848,"pid":"master@192.168.1.232:5050","port":5050,"version":"1.0.1"}`
)

func TestMasterInfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want cluster.MasterInfo
		// enc is the exact encoding of want when it differs from in; "-" skips.
		enc     string
		wantErr string
	}{
		{name: "1.4.0 localhost", in: masterInfoLocal, want: cluster.MasterInfo{
			ID: "685fe32d-e30c-4df7-b891-3d96b06fee88", PID: "master@127.0.0.1:5050", Hostname: "localhost",
			IP: "127.0.0.1", Port: 5050, Version: "1.4.0"}},
		{name: "1.0.1 LAN", in: masterInfoLAN, want: cluster.MasterInfo{
			ID: "bd5969e1-d8d3-492c-abfc-3b2367465209", PID: "master@192.168.1.232:5050", Hostname: "192.168.1.232",
			IP: "192.168.1.232", Port: 5050, Version: "1.0.1"}},
		{name: "legacy uint32 ip only (pre-0.24)",
			in:   `{"hostname":"m","id":"x","ip":3892422848,"pid":"master@192.168.1.232:5051","port":5051}`,
			want: cluster.MasterInfo{ID: "x", PID: "master@192.168.1.232:5051", Hostname: "m", IP: "192.168.1.232", Port: 5051},
			enc:  `{"address":{"hostname":"m","ip":"192.168.1.232","port":5051},"hostname":"m","id":"x","ip":3892422848,"pid":"master@192.168.1.232:5051","port":5051}`},
		{name: "address wins over ip; address.port over port",
			in:   `{"address":{"ip":"10.0.0.2","port":6060},"ip":16777343,"port":5050,"id":"x"}`,
			want: cluster.MasterInfo{ID: "x", IP: "10.0.0.2", Port: 6060}, enc: "-"},
		{name: "address without port uses port",
			in:   `{"address":{"ip":"10.0.0.2"},"port":7070,"id":"x"}`,
			want: cluster.MasterInfo{ID: "x", IP: "10.0.0.2", Port: 7070}, enc: "-"},
		{name: "no port at all is the protobuf default",
			in:   `{"ip":16777343}`,
			want: cluster.MasterInfo{IP: "127.0.0.1", Port: 5050}, enc: "-"},
		{name: "hostname only in address",
			in:   `{"address":{"hostname":"h","ip":"::1","port":5050}}`,
			want: cluster.MasterInfo{Hostname: "h", IP: "::1", Port: 5050},
			enc:  `{"address":{"hostname":"h","ip":"::1","port":5050},"hostname":"h","id":"","ip":0,"pid":"","port":5050}`},
		{name: "unknown fields", in: `{"address":{"ip":"1.2.3.4","port":1},"domain":{"fault_domain":{}},"capabilities":[{"type":"AGENT_UPDATE"}]}`,
			want: cluster.MasterInfo{IP: "1.2.3.4", Port: 1}, enc: "-"},
		{name: "no address", in: `{"id":"x","hostname":"h","port":5050}`,
			wantErr: `master info: no address: neither field "address.ip" nor field "ip" is set`},
		{name: "ip zero is no address", in: `{"ip":0}`, wantErr: "no address"},
		{name: "address.port is a string", in: `{"address":{"ip":"1.2.3.4","port":"5050"}}`,
			wantErr: `master info: field "address.port": expected number, got string`},
		{name: "ip out of range", in: `{"ip":4294967296}`, wantErr: `field "ip": number 4294967296 out of range for uint32`},
		{name: "ip negative", in: `{"ip":-1}`, wantErr: `field "ip": number -1 out of range`},
		{name: "not an object", in: `"master@127.0.0.1:5050"`, wantErr: "master info: expected object, got string"},
		{name: "not JSON", in: "\x08\x01", wantErr: "master info: invalid JSON"},
		{name: "truncated", in: masterInfoLocal[:40], wantErr: "unexpected end of JSON input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeMasterInfo([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "MasterInfo", got, tc.want)
			enc, err := EncodeMasterInfo(got)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.enc
			if want == "" {
				want = tc.in
			}
			if want != "-" && string(enc) != want {
				t.Errorf("EncodeMasterInfo =\n%s\nwant\n%s", enc, want)
			}
			back, err := DecodeMasterInfo(enc)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "round trip", back, got)
		})
	}
}

func TestEncodeMasterInfoErrors(t *testing.T) {
	for _, ip := range []string{"", "master.example", "1.2.3"} {
		if _, err := EncodeMasterInfo(cluster.MasterInfo{IP: ip, Port: 5050}); err == nil {
			t.Errorf("EncodeMasterInfo(IP %q) succeeded", ip)
		}
	}
	// An IPv4-mapped IPv6 address still gets its legacy uint32.
	enc, err := EncodeMasterInfo(cluster.MasterInfo{IP: "::ffff:127.0.0.1", Port: 5050})
	if err != nil || !strings.Contains(string(enc), `"ip":16777343`) {
		t.Errorf("EncodeMasterInfo(::ffff:127.0.0.1) = %s, %v", enc, err)
	}
}

func TestLeaderInfo(t *testing.T) {
	// Mesos ≥1.2 writes leader_info without address or ip.
	in := `{"leader":"master@10.0.0.1:5050","leader_info":{"id":"m1","pid":"master@10.0.0.1:5050","port":5050,"hostname":"m1.example"}}`
	st, _, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := cluster.MasterInfo{ID: "m1", PID: "master@10.0.0.1:5050", Hostname: "m1.example", Port: 5050}
	eq(t, "LeaderInfo", st.LeaderInfo, &want)
	enc, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(enc), `"leader_info":{"id":"m1","pid":"master@10.0.0.1:5050","port":5050,"hostname":"m1.example"}`) {
		t.Errorf("leader_info not in the Mesos shape:\n%s", enc)
	}
	// A model with the address (as the simulator has it from ZooKeeper) keeps it.
	st.LeaderInfo = &cluster.MasterInfo{ID: "m1", PID: "master@10.0.0.1:5050", Hostname: "m1", IP: "10.0.0.1", Port: 5050, Version: "1.4.0"}
	enc, err = Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "LeaderInfo round trip", back.LeaderInfo, st.LeaderInfo)
}
