package simserver

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/signpost-dns/signpost/internal/testutil/zktest"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

func redirectClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := redirectClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestLeaderSemantics checks Mesos 1.x behaviour: non-leaders redirect state
// and operator calls to the leader with 307, /master/redirect always
// redirects, and without a leader everything answers 503.
func TestLeaderSemantics(t *testing.T) {
	s := startSim(t, context.Background(), Config{Masters: 3})
	leaderHost := strings.TrimPrefix(s.MasterURLs[0], "http://")

	if r := get(t, s.MasterURLs[0]+"/master/state"); r.StatusCode != 200 {
		t.Errorf("leader /master/state: %s", r.Status)
	}
	r := get(t, s.MasterURLs[1]+"/master/state?jsonp=x")
	if r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != "//"+leaderHost+"/master/state?jsonp=x" {
		t.Errorf("non-leader /master/state: %s Location %q", r.Status, r.Header.Get("Location"))
	}
	for _, m := range s.MasterURLs {
		r := get(t, m+"/master/redirect")
		if r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != "//"+leaderHost {
			t.Errorf("%s/master/redirect: %s Location %q", m, r.Status, r.Header.Get("Location"))
		}
	}
	req, _ := http.NewRequest("POST", s.MasterURLs[2]+"/api/v1", strings.NewReader(`{"type":"GET_STATE"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := redirectClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("non-leader /api/v1: %s", resp.Status)
	}

	// Move leadership to master 2: its state names itself as leader.
	do(t, "PUT", s.ControlURL+"/sim/v1/leader", `{"master":2}`, 200)
	st, _, err := mesosstate.Decode(do(t, "GET", s.MasterURLs[2]+"/master/state", "", 200))
	if err != nil {
		t.Fatal(err)
	}
	if want := "master@" + strings.TrimPrefix(s.MasterURLs[2], "http://"); st.Leader != want || st.PID != want {
		t.Errorf("after failover: leader %q pid %q, want %q", st.Leader, st.PID, want)
	}
	if r := get(t, s.MasterURLs[0]+"/state"); r.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("old leader /state: %s", r.Status)
	}

	// No leader: 503 from everyone.
	do(t, "PUT", s.ControlURL+"/sim/v1/leader", `{"master":-1}`, 200)
	for _, path := range []string{"/master/state", "/master/redirect"} {
		if r := get(t, s.MasterURLs[1]+path); r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("leaderless %s: %s", path, r.Status)
		}
	}
	do(t, "PUT", s.ControlURL+"/sim/v1/leader", `{"master":3}`, 400)
	do(t, "PUT", s.ControlURL+"/sim/v1/leader", `{"mastr":1}`, 400)
}

// TestOperatorRequestRules checks the operator API's content negotiation.
func TestOperatorRequestRules(t *testing.T) {
	s := startSim(t, context.Background(), Config{})
	cases := []struct {
		method, ctype, accept, body string
		want                        int
	}{
		{"GET", "", "", "", http.StatusMethodNotAllowed},
		{"POST", "", "", `{"type":"GET_STATE"}`, http.StatusBadRequest},
		{"POST", "text/plain", "", `{"type":"GET_STATE"}`, http.StatusUnsupportedMediaType},
		{"POST", "application/json", "text/html", `{"type":"GET_STATE"}`, http.StatusNotAcceptable},
		{"POST", "application/json", "", `{"type":`, http.StatusBadRequest},
		{"POST", "application/json", "", `{}`, http.StatusBadRequest},
		{"POST", "application/json", "application/json", `{"type":"GET_STATE"}`, http.StatusOK},
		{"POST", "application/json", "*/*", `{"type":"GET_HEALTH"}`, http.StatusOK},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, s.MasterURLs[0]+"/api/v1", strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s type=%q accept=%q body=%q: %s, want %d", c.method, c.ctype, c.accept, c.body, resp.Status, c.want)
		}
	}
}

// TestZooKeeperRegistration runs the simulator with 3 masters registered in a
// real ZooKeeper, makes another master lead, and checks the nodes' contents
// and order: the leader is always the lowest sequence.
func TestZooKeeperRegistration(t *testing.T) {
	zs := zktest.Start(t)
	s := startSim(t, context.Background(), Config{Masters: 3, ZK: "zk://" + zs.Addr + "/mesos"})

	conn, _, err := zk.Connect([]string{zs.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leaderOf := func() (string, []string) {
		t.Helper()
		children, _, err := conn.Children("/mesos")
		if err != nil {
			t.Fatal(err)
		}
		var members []string
		for _, c := range children {
			if strings.HasPrefix(c, "json.info_") {
				members = append(members, c)
			}
		}
		sort.Strings(members) // 10-digit zero-padded: text order is sequence order
		if len(members) != 3 {
			t.Fatalf("want 3 json.info_ nodes, got %v", children)
		}
		var pids []string
		for _, m := range members {
			data, _, err := conn.Get("/mesos/" + m)
			if err != nil {
				t.Fatal(err)
			}
			mi, err := mesosstate.DecodeMasterInfo(data)
			if err != nil {
				t.Fatalf("%s: %v (%s)", m, err, data)
			}
			if mi.IP != "127.0.0.1" || mi.PID != "master@127.0.0.1:"+strconv.Itoa(mi.Port) {
				t.Errorf("%s: MasterInfo %+v", m, mi)
			}
			pids = append(pids, mi.PID)
		}
		return pids[0], pids
	}
	pidOf := func(i int) string { return "master@" + strings.TrimPrefix(s.MasterURLs[i], "http://") }

	leader, order := leaderOf()
	if leader != pidOf(0) || order[1] != pidOf(1) || order[2] != pidOf(2) {
		t.Errorf("initial order %v, want masters 0,1,2", order)
	}
	do(t, "PUT", s.ControlURL+"/sim/v1/leader", `{"master":2}`, 200)
	leader, order = leaderOf()
	if leader != pidOf(2) {
		t.Errorf("after making master 2 lead, ZooKeeper order is %v", order)
	}
	st, _, _ := mesosstate.Decode(do(t, "GET", s.MasterURLs[2]+"/master/state", "", 200))
	if st.Leader != pidOf(2) {
		t.Errorf("state leader %q, want %q", st.Leader, pidOf(2))
	}
	do(t, "PUT", s.ControlURL+"/sim/v1/leader", `{"master":1}`, 200)
	if leader, order = leaderOf(); leader != pidOf(1) {
		t.Errorf("after making master 1 lead, ZooKeeper order is %v", order)
	}
}
