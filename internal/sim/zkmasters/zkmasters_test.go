package zkmasters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
	"github.com/signpost-dns/signpost/internal/testutil/syncbuf"
	"github.com/signpost-dns/signpost/internal/testutil/zktest"
)

// client opens a plain ZooKeeper connection for the test to look with.
func client(t *testing.T, srv *zktest.Server) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect([]string{srv.Addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(printfLogger{testLogger(t)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	// Wait for the session, so that the client's goroutines are all running
	// before a test counts goroutines.
	if _, _, err := conn.Exists("/"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// testLogger sends logs to t.Log, so they show up only for failing tests.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// memberNode is one json.info_ child as another ZooKeeper client sees it.
type memberNode struct {
	name  string
	seq   int64
	info  masterInfoJSON
	owner int64 // the session that holds the ephemeral node
}

// listMembers lists the membership nodes under path, lowest sequence first,
// the way a Mesos detector reads them: other children are ignored.
func listMembers(t *testing.T, conn *zk.Conn, path string) []memberNode {
	t.Helper()
	children, _, err := conn.Children(path)
	if err != nil {
		t.Fatalf("children of %s: %v", path, err)
	}
	var out []memberNode
	for _, c := range children {
		seq, ok := Sequence(c)
		if !ok {
			continue
		}
		if !strings.HasPrefix(c, Label) {
			t.Errorf("child %q has a sequence but not the %q label", c, Label)
		}
		data, stat, err := conn.Get(path + "/" + c)
		if errors.Is(err, zk.ErrNoNode) {
			continue // deleted since the listing, as a detector must expect
		}
		if err != nil {
			t.Fatalf("get %s/%s: %v", path, c, err)
		}
		var info masterInfoJSON
		if err := json.Unmarshal(data, &info); err != nil {
			t.Fatalf("%s/%s holds %q: %v", path, c, data, err)
		}
		out = append(out, memberNode{name: c, seq: seq, info: info, owner: stat.EphemeralOwner})
	}
	slices.SortFunc(out, func(a, b memberNode) int { return int(a.seq - b.seq) })
	return out
}

func masters() []cluster.MasterInfo {
	return []cluster.MasterInfo{
		{ID: "m0", PID: "master@127.0.0.1:5050", Hostname: "localhost", IP: "127.0.0.1", Port: 5050, Version: "1.4.0"},
		{ID: "m1", PID: "master@192.168.1.232:5050", Hostname: "192.168.1.232", IP: "192.168.1.232", Port: 5050, Version: "1.0.1"},
		{ID: "m2", PID: "master@10.0.0.3:5051", Hostname: "master3.example", IP: "10.0.0.3", Port: 5051, Version: "1.11.0"},
	}
}

// wantIP is each master's MasterInfo.ip: the address in network byte order
// read as a little-endian uint32.
var wantIP = map[string]uint32{"m0": 16777343, "m1": 3892422848, "m2": 3<<24 | 10}

// checkInfo compares a decoded node with the master it should describe.
func checkInfo(t *testing.T, got masterInfoJSON, want cluster.MasterInfo) {
	t.Helper()
	if got.ID != want.ID || got.PID != want.PID || got.Hostname != want.Hostname ||
		got.Port != uint32(want.Port) || got.Version != want.Version || got.IP != wantIP[want.ID] ||
		got.Address != (addressJSON{Hostname: want.Hostname, IP: want.IP, Port: uint32(want.Port)}) {
		t.Errorf("node holds %+v, want master %+v (ip %d)", got, want, wantIP[want.ID])
	}
}

// joinAll joins the masters in order.
func joinAll(t *testing.T, g *Group, ms []cluster.MasterInfo) []*Membership {
	t.Helper()
	var out []*Membership
	for _, m := range ms {
		mb, err := g.Join(m)
		if err != nil {
			t.Fatalf("Join(%s): %v", m.ID, err)
		}
		out = append(out, mb)
	}
	return out
}

func newGroup(t *testing.T, srv *zktest.Server, path string) *Group {
	t.Helper()
	g, err := New(context.Background(), []string{srv.Addr}, path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

func TestJoinRegistersMasters(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	g := newGroup(t, srv, "/signpost/test/mesos") // parents are created
	ms := masters()
	mbs := joinAll(t, g, ms)

	nodes := listMembers(t, look, "/signpost/test/mesos")
	if len(nodes) != 3 {
		t.Fatalf("got %d membership nodes, want 3: %+v", len(nodes), nodes)
	}
	owners := map[int64]bool{}
	for i, n := range nodes {
		// Sequence order is join order, and Node names the node.
		if want := "/signpost/test/mesos/" + n.name; mbs[i].Node() != want {
			t.Errorf("master %d: Node() = %q, want %q", i, mbs[i].Node(), want)
		}
		if len(n.name) != len(Label)+10 {
			t.Errorf("node %q: want a 10-digit sequence", n.name)
		}
		checkInfo(t, n.info, ms[i])
		owners[n.owner] = true
	}
	if len(owners) != 3 || owners[0] {
		t.Errorf("nodes are owned by sessions %v, want 3 distinct ephemeral owners", owners)
	}
	if got := g.Members(); !slices.Equal(got, mbs) {
		t.Errorf("Members() = %v, want join order %v", got, mbs)
	}
}

// TestExactBytes pins the JSON to what a real Mesos 1.4 master wrote.
func TestExactBytes(t *testing.T) {
	got, err := encodeMasterInfo(cluster.MasterInfo{
		ID: "685fe32d-e30c-4df7-b891-3d96b06fee88", PID: "master@127.0.0.1:5050",
		Hostname: "localhost", IP: "127.0.0.1", Port: 5050, Version: "1.4.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"address":{"hostname":"localhost","ip":"127.0.0.1","port":5050},"hostname":"localhost","id":"685fe32d-e30c-4df7-b891-3d96b06fee88","ip":16777343,"pid":"master@127.0.0.1:5050","port":5050,"version":"1.4.0"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEncodeDefaults(t *testing.T) {
	for _, tc := range []struct {
		in      cluster.MasterInfo
		want    string // substring
		wantErr string
	}{
		{in: cluster.MasterInfo{ID: "a", PID: "master@10.1.2.3:5055"},
			want: `{"address":{"hostname":"10.1.2.3","ip":"10.1.2.3","port":5055},"hostname":"10.1.2.3","id":"a","ip":50462986,"pid":"master@10.1.2.3:5055","port":5055}`},
		{in: cluster.MasterInfo{ID: "b", IP: "10.1.2.3"},
			want: `"pid":"master@10.1.2.3:5050","port":5050`},
		{in: cluster.MasterInfo{ID: "c"}, wantErr: "no IP address"},
		{in: cluster.MasterInfo{ID: "d", IP: "::1"}, wantErr: "not an IPv4"},
		{in: cluster.MasterInfo{ID: "e", PID: "garbage"}, wantErr: "not name@ip:port"},
		{in: cluster.MasterInfo{ID: "f", IP: "10.0.0.1", Port: 70000}, wantErr: "out of range"},
	} {
		got, err := encodeMasterInfo(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: err = %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%+v: %v", tc.in, err)
		case !strings.Contains(string(got), tc.want):
			t.Errorf("%+v: got %s, want it to contain %s", tc.in, got, tc.want)
		}
	}
}

func TestMakeLeader(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	g := newGroup(t, srv, "/mesos")
	ms := masters()
	mbs := joinAll(t, g, ms)
	oldNodes := []string{mbs[0].Node(), mbs[1].Node(), mbs[2].Node()}

	if err := g.MakeLeader(2); err != nil {
		t.Fatalf("MakeLeader(2): %v", err)
	}
	nodes := listMembers(t, look, "/mesos")
	if len(nodes) != 3 {
		t.Fatalf("got %d membership nodes after MakeLeader, want 3 (old ones removed): %+v", len(nodes), nodes)
	}
	// Master 2 leads; 0 and 1 follow in their old relative order.
	for i, want := range []int{2, 0, 1} {
		checkInfo(t, nodes[i].info, ms[want])
		if got := "/mesos/" + nodes[i].name; mbs[want].Node() != got {
			t.Errorf("position %d: master %d Node() = %q, want %q", i, want, mbs[want].Node(), got)
		}
	}
	if mbs[2].Node() != oldNodes[2] {
		t.Errorf("the new leader's node changed: %q -> %q", oldNodes[2], mbs[2].Node())
	}
	for _, old := range oldNodes[:2] {
		if ok, _, _ := look.Exists(old); ok {
			t.Errorf("old node %s still exists", old)
		}
	}

	// Making the leader lead changes nothing.
	before := mbs[2].Node()
	if err := g.MakeLeader(2); err != nil || mbs[2].Node() != before || len(listMembers(t, look, "/mesos")) != 3 {
		t.Errorf("MakeLeader of the leader: err %v, node %q -> %q", err, before, mbs[2].Node())
	}
	// And back to master 1, past 2 and 0.
	if err := g.MakeLeader(1); err != nil {
		t.Fatalf("MakeLeader(1): %v", err)
	}
	nodes = listMembers(t, look, "/mesos")
	for i, want := range []int{1, 2, 0} {
		checkInfo(t, nodes[i].info, ms[want])
	}

	if err := g.MakeLeader(3); err == nil {
		t.Error("MakeLeader(3) with 3 masters: no error")
	}
	if err := mbs[0].Leave(); err != nil {
		t.Fatal(err)
	}
	if err := g.MakeLeader(0); err == nil || !strings.Contains(err.Error(), "not in the group") {
		t.Errorf("MakeLeader of a master that left: err = %v", err)
	}
}

// TestNoIntermediateLeader watches the group while MakeLeader runs and checks
// that every leader a watcher could see was the old or the new one.
func TestNoIntermediateLeader(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	g := newGroup(t, srv, "/mesos")
	mbs := joinAll(t, g, masters())

	// Seen leaders are collected from every children snapshot; the watch
	// is re-armed at once, and ZooKeeper delivers a change before any
	// later one, so a leader that held for a whole round trip is seen.
	seen := map[string]bool{}
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			children, _, ev, err := look.ChildrenW("/mesos")
			if err != nil {
				t.Errorf("ChildrenW: %v", err)
				return
			}
			best, bestSeq := "", int64(-1)
			for _, c := range children {
				if s, ok := Sequence(c); ok && (bestSeq < 0 || s < bestSeq) {
					best, bestSeq = c, s
				}
			}
			mu.Lock()
			seen[best] = true
			mu.Unlock()
			select {
			case <-ev:
			case <-stop:
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	oldLeader, newLeader := mbs[0].Node(), mbs[2].Node()
	if err := g.MakeLeader(2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	for leader := range seen {
		if "/mesos/"+leader != oldLeader && "/mesos/"+leader != newLeader {
			t.Errorf("a watcher saw %s lead (old %s, new %s; all seen %v)", leader, oldLeader, newLeader, seen)
		}
	}
}

func TestLeaveAndRejoin(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	g := newGroup(t, srv, "/mesos")
	ms := masters()
	mbs := joinAll(t, g, ms)

	// The leader dies: its node is gone as soon as Leave returns.
	node := mbs[0].Node()
	if err := mbs[0].Leave(); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if ok, _, err := look.Exists(node); ok || err != nil {
		t.Errorf("after Leave, %s exists=%v err=%v", node, ok, err)
	}
	if mbs[0].Node() != "" {
		t.Errorf("Node() after Leave = %q, want empty", mbs[0].Node())
	}
	nodes := listMembers(t, look, "/mesos")
	if len(nodes) != 2 || nodes[0].info.ID != "m1" {
		t.Fatalf("after the leader left: %+v, want m1 leading m2", nodes)
	}
	if err := mbs[0].Leave(); err != nil {
		t.Errorf("second Leave: %v", err)
	}
	if got := len(g.Members()); got != 3 {
		t.Errorf("Members() has %d masters after Leave, want 3 (identities are kept)", got)
	}

	// It restarts and joins at the end.
	if err := mbs[0].Rejoin(); err != nil {
		t.Fatalf("Rejoin: %v", err)
	}
	nodes = listMembers(t, look, "/mesos")
	if len(nodes) != 3 || nodes[2].info.ID != "m0" || "/mesos/"+nodes[2].name != mbs[0].Node() {
		t.Errorf("after Rejoin: %+v, want m0 last at %s", nodes, mbs[0].Node())
	}
	checkInfo(t, nodes[2].info, ms[0])
	// Rejoin of a master that is in the group restarts it too.
	old := mbs[1].Node()
	if err := mbs[1].Rejoin(); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := look.Exists(old); ok || mbs[1].Node() == old {
		t.Errorf("Rejoin of a member kept its old node %s", old)
	}
}

func TestLogReplicasBeside(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	acl := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"/mesos", "/mesos/log_replicas", "/mesos/log_replicas/0000000000"} {
		if _, err := look.Create(p, []byte("replica"), zk.FlagPersistent, acl); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	g := newGroup(t, srv, "/mesos")
	ms := masters()
	mbs := joinAll(t, g, ms)
	if err := g.MakeLeader(1); err != nil {
		t.Fatal(err)
	}
	nodes := listMembers(t, look, "/mesos")
	if len(nodes) != 3 || nodes[0].info.ID != "m1" {
		t.Errorf("with log_replicas beside: %+v, want m1 leading", nodes)
	}
	if err := mbs[1].Leave(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	children, _, err := look.Children("/mesos")
	if err != nil || !slices.Equal(children, []string{"log_replicas"}) {
		t.Errorf("after Close, /mesos has %v (err %v), want only log_replicas", children, err)
	}
	if data, _, err := look.Get("/mesos/log_replicas"); err != nil || string(data) != "replica" {
		t.Errorf("log_replicas: %q, %v", data, err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	check := leakcheck.Check(t)

	g, err := New(context.Background(), []string{srv.Addr}, "/mesos", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mbs := joinAll(t, g, masters())
	if err := g.MakeLeader(2); err != nil {
		t.Fatal(err)
	}
	if err := mbs[0].Rejoin(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	check()

	if n := listMembers(t, look, "/mesos"); len(n) != 0 {
		t.Errorf("after Close: %+v, want no members", n)
	}
	for _, mb := range mbs {
		if mb.Node() != "" {
			t.Errorf("Node() after Close = %q", mb.Node())
		}
	}
	if _, err := g.Join(masters()[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
	if err := mbs[0].Rejoin(); !errors.Is(err, ErrClosed) {
		t.Errorf("Rejoin after Close: %v, want ErrClosed", err)
	}
	if err := g.MakeLeader(0); !errors.Is(err, ErrClosed) {
		t.Errorf("MakeLeader after Close: %v, want ErrClosed", err)
	}
}

func TestContextCancelCloses(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	check := leakcheck.Check(t)

	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, []string{srv.Addr}, "/mesos", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	joinAll(t, g, masters())
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for len(listMembers(t, look, "/mesos")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("members still registered 10s after the context was cancelled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
	check()
	if _, err := g.Join(masters()[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after cancel: %v, want ErrClosed", err)
	}
}

// TestJoinUnreachable checks that Join gives up when ZooKeeper cannot be
// reached, and that a cancelled context stops the wait at once.
func TestJoinUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now

	check := leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, []string{addr}, "/mesos", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	if _, err := g.Join(masters()[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Join to a dead address, cancelled: %v, want ErrClosed", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Join took %v after cancel", d)
	}
	_ = g.Close()
	check()
}

// partitionDialer lets a test cut a client off from ZooKeeper: while cut,
// open connections are closed and new ones refused.
type partitionDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *partitionDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("partitioned")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *partitionDialer) setCut(cut bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = cut
	if cut {
		for _, c := range d.conns {
			c.Close()
		}
		d.conns = nil
	}
}

// TestSessionExpiry cuts one master off from ZooKeeper for longer than its
// session timeout: ZooKeeper deletes its node, and when the master can reach
// ZooKeeper again it learns that it is out of the group, as a real master
// would (and exit).
func TestSessionExpiry(t *testing.T) {
	srv := zktest.Start(t)
	look := client(t, srv)
	check := leakcheck.Check(t)
	g, err := New(context.Background(), []string{srv.Addr}, "/mesos", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	d := &partitionDialer{}
	g.sessionTimeout = 4 * time.Second // ZooKeeper's minimum with tickTime=2000
	g.dialer = d.dial
	mb, err := g.Join(masters()[0])
	if err != nil {
		t.Fatal(err)
	}
	node := mb.Node()

	d.setCut(true)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, _, err := look.Exists(node)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists 15s after its master was cut off", node)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mb.Node() != node {
		t.Errorf("Node() changed to %q while cut off; the master cannot know yet", mb.Node())
	}

	d.setCut(false)
	for mb.Node() != "" {
		if time.Now().After(deadline) {
			t.Fatal("the master did not notice that its session expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := listMembers(t, look, "/mesos"); len(n) != 0 {
		t.Errorf("after expiry: %+v, want no members", n)
	}
	// It can come back, like a restarted master.
	if err := mb.Rejoin(); err != nil {
		t.Fatalf("Rejoin after expiry: %v", err)
	}
	if n := listMembers(t, look, "/mesos"); len(n) != 1 || "/mesos/"+n[0].name != mb.Node() {
		t.Errorf("after Rejoin: %+v, Node() %q", n, mb.Node())
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	check()
}

// TestLogsGoToSlog checks that the ZooKeeper client's own log lines reach the
// slog logger, and nothing reaches the standard logger (stderr).
func TestLogsGoToSlog(t *testing.T) {
	srv := zktest.Start(t)
	var std bytes.Buffer
	log.SetOutput(&std)
	defer log.SetOutput(os.Stderr)

	var buf syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := New(context.Background(), []string{srv.Addr}, "/mesos", logger)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := g.Join(masters()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := mb.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"component=zk-client", "connected to " + srv.Addr, "master=m0", "zk_group=/mesos", "master joined the group"} {
		if !strings.Contains(out, want) {
			t.Errorf("slog output lacks %q:\n%s", want, out)
		}
	}
	if std.Len() != 0 {
		t.Errorf("the standard logger got:\n%s", std.String())
	}
}

func TestNewValidates(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		servers []string
		path    string
		want    string
	}{
		{nil, "/mesos", "no ZooKeeper servers"},
		{[]string{""}, "/mesos", "empty ZooKeeper server"},
		{[]string{"127.0.0.1:2181"}, "mesos", "not absolute"},
		{[]string{"127.0.0.1:2181"}, "/", `"/" is not supported`},
		{[]string{"127.0.0.1:2181"}, "/mesos/", "ends with"},
		{[]string{"127.0.0.1:2181"}, "/a//b", "empty component"},
		{[]string{"127.0.0.1:2181"}, "/a/../b", `".." component`},
		{[]string{"127.0.0.1:2181"}, "/zookeeper/x", "reserved"},
	} {
		_, err := New(ctx, tc.servers, tc.path, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q): err = %v, want %q", tc.servers, tc.path, err, tc.want)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		servers []string
		path    string
		wantErr string
	}{
		{in: "zk://host1:2181,host2:2181,host3:2181/mesos", servers: []string{"host1:2181", "host2:2181", "host3:2181"}, path: "/mesos"},
		{in: "zk://10.0.0.1:2181/mesos", servers: []string{"10.0.0.1:2181"}, path: "/mesos"},
		{in: "zk://10.0.0.1:2181", servers: []string{"10.0.0.1:2181"}, path: "/mesos"},
		{in: "  zk://zk1/dcos/mesos\n", servers: []string{"zk1:2181"}, path: "/dcos/mesos"},
		{in: "zk://user:pass@zk1:2181,zk2:2182/mesos", servers: []string{"zk1:2181", "zk2:2182"}, path: "/mesos"},
		{in: "zk://us@er:p@ss@zk1:2181/mesos", servers: []string{"zk1:2181"}, path: "/mesos"},
		{in: "zk://[::1]:2181,[fe80::1]/mesos", servers: []string{"[::1]:2181", "[fe80::1]:2181"}, path: "/mesos"},

		{in: "http://zk1:2181/mesos", wantErr: `scheme is "http", want zk://`},
		{in: "ZK://zk1:2181/mesos", wantErr: `scheme is "ZK", want zk://`},
		{in: "zk1:2181/mesos", wantErr: "want zk://host:port"},
		{in: "", wantErr: "want zk://host:port"},
		{in: "zk://", wantErr: "no ZooKeeper hosts"},
		{in: "zk:///mesos", wantErr: "no ZooKeeper hosts"},
		{in: "zk://user:pass@/mesos", wantErr: "no ZooKeeper hosts"},
		{in: "zk://zk1:2181,,zk2:2181/mesos", wantErr: `host 2 (""): empty host`},
		{in: "zk://zk1:2181,/mesos", wantErr: `host 2 (""): empty host`},
		{in: "zk://zk1:http/mesos", wantErr: `bad port "http"`},
		{in: "zk://zk1:0/mesos", wantErr: `bad port "0"`},
		{in: "zk://zk1:65536/mesos", wantErr: `bad port "65536"`},
		{in: "zk://zk1:/mesos", wantErr: `bad port ""`},
		{in: "zk://:2181/mesos", wantErr: "empty host name"},
		{in: "zk://::1:2181/mesos", wantErr: "too many colons"},
		{in: "zk://[::1/mesos", wantErr: `host 1 ("[::1")`},
		{in: "zk://zk1:2181/", wantErr: `path "/" is not supported`},
		{in: "zk://zk1:2181/mesos/", wantErr: "ends with '/'"},
		{in: "zk://zk1:2181//mesos", wantErr: "empty component"},
	} {
		servers, path, err := ParseURL(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseURL(%q) = %q, %q, %v; want error containing %q", tc.in, servers, path, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(servers, tc.servers) || path != tc.path {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.in, servers, path, err, tc.servers, tc.path)
		}
	}
}

func TestSequence(t *testing.T) {
	for _, tc := range []struct {
		in  string
		seq int64
		ok  bool
	}{
		{"/mesos/json.info_0000000017", 17, true},
		{"json.info_0000000000", 0, true},
		{"info_0000000003", 3, true},
		{"log_replicas", 0, false},
		{"json.info_", 0, false},
		{"", 0, false},
		{"/mesos", 0, false},
	} {
		seq, ok := Sequence(tc.in)
		if seq != tc.seq || ok != tc.ok {
			t.Errorf("Sequence(%q) = %d, %v; want %d, %v", tc.in, seq, ok, tc.seq, tc.ok)
		}
	}
}
