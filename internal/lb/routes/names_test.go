package routes

import "testing"

func TestServerID(t *testing.T) {
	// Values pinned by Marathon-LB's TestServerIdGeneration.
	for name, want := range map[string]int{"0": 17068, "1": 25733, "a": 25929, "10_0_6_25_23336": 14676} {
		if got := serverID(name, map[int]struct{}{}); got != want {
			t.Errorf("serverID(%q) = %d, want %d", name, got, want)
		}
	}
	// A collision retries with "<name> <sha256 hex>" (value computed with
	// Marathon-LB's calculate_server_id).
	taken := map[int]struct{}{17068: {}}
	if got := serverID("0", taken); got != 7790 {
		t.Errorf("serverID(0) after collision = %d, want 7790", got)
	}
	if _, ok := taken[7790]; !ok {
		t.Error("the new id is not marked taken")
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{sanitize("a.b-c/d"), "a_b-c_d"},
		{sanitize("héllo"), "h_llo"},
		{sanitize("plain-1"), "plain-1"},
		{serverName("10.0.0.1", "10.0.0.1", 31001), "10_0_0_1_31001"},
		{serverName("localhost", "127.0.0.1", 31250), "localhost_127_0_0_1_31250"},
		{serverName("10.0.0.1", "9.0.1.5", 8080), "10_0_0_1_9_0_1_5_8080"},
		{backendName("/team/sub/api", 10020), "team_sub_api_10020"},
		{backendName("/nginx-green.v2", 80), "nginx-green.v2_80"},
		{stickyCookie("10_0_0_1_31121"), "479927f5e0"},
		{stickyCookie("10_0_0_2_31122"), "b7c2cb14d3"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestPortAssigner(t *testing.T) {
	p := newPortAssigner(10050, 10100)
	// Marathon-LB's value for /calico's discovery port 80 (spec §2.5, case 53).
	if got := p.port("/calico", 80); got != 10052 {
		t.Errorf("/calico:80 = %d, want 10052", got)
	}
	if got := p.port("/calico", 80); got != 10052 {
		t.Errorf("second lookup = %d, want the same port", got)
	}
	// Exhaustion: a range of two ports serves two keys, then 0.
	q := newPortAssigner(20000, 20001)
	a, b, c := q.port("/a", 1), q.port("/b", 1), q.port("/c", 1)
	if a == 0 || b == 0 || a == b || c != 0 {
		t.Errorf("assigned %d, %d, %d; want two distinct ports then 0", a, b, c)
	}
	if newPortAssigner(0, 0).enabled() {
		t.Error("0-0 range is enabled")
	}
}
