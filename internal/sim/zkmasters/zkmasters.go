// Package zkmasters registers the simulator's Mesos masters in a real
// ZooKeeper, exactly as real masters do, so that Signpost (and any other Mesos
// tool) finds the simulated leader by the same route as in production.
//
// A Mesos master contends for leadership by joining a group znode (/mesos by
// default): it creates an EPHEMERAL|SEQUENTIAL child "json.info_<10-digit
// sequence>" holding its MasterInfo as JSON, and the master whose node has the
// lowest sequence leads. Each master has its own ZooKeeper session, so when a
// master dies its session ends, ZooKeeper deletes its node and the next one
// leads. This package gives every simulated master its own session for the
// same reason: "the leader dies" is then a real event in ZooKeeper, seen by
// watchers exactly as in a real cluster, not a change in a fake.
//
// The group znode may hold other children, such as the replicated log's
// "log_replicas"; they are left alone.
//
// Typical use in the simulator:
//
//	servers, path, err := zkmasters.ParseURL("zk://127.0.0.1:2181/mesos")
//	g, err := zkmasters.New(ctx, servers, path, logger)
//	defer g.Close()
//	for _, info := range masters {
//		_, err := g.Join(info) // the first to join leads
//	}
//	err = g.MakeLeader(2)          // master 2 takes over, as after restarts
//	err = g.Members()[2].Leave()   // the leader goes away; the next one leads
//	err = g.Members()[2].Rejoin()  // and comes back, last in line
package zkmasters

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/signpost-dns/signpost/internal/cluster"
)

const (
	// DefaultPath is the group znode Mesos uses when the zk:// URL has none.
	DefaultPath = "/mesos"
	// Label prefixes each membership znode. Masters since Mesos 0.24 write
	// JSON MasterInfo under "json.info_"; ZooKeeper appends the sequence.
	Label = "json.info_"
	// SessionTimeout is what each master asks ZooKeeper for; it is the Mesos
	// default --zk_session_timeout. A master cut off from ZooKeeper for longer
	// loses its session and with it its place in the group.
	SessionTimeout = 10 * time.Second
	// ConnectTimeout bounds how long Join waits for a ZooKeeper session. A
	// real master would wait forever; a simulator should say that ZooKeeper is
	// unreachable instead.
	ConnectTimeout = 15 * time.Second
)

// ErrClosed is returned by operations on a Group after Close, or after its
// context has been cancelled.
var ErrClosed = errors.New("zkmasters: group closed")

// Group is the set of simulated masters registered under one group znode.
// Its methods are safe for concurrent use; operations that change
// memberships run one at a time.
type Group struct {
	ctx     context.Context
	servers []string
	path    string
	logger  *slog.Logger

	// Tests shorten the session timeout and cut connections through these.
	sessionTimeout time.Duration
	dialer         zk.Dialer

	opMu sync.Mutex // serialises Join, Leave, Rejoin, MakeLeader and Close

	mu      sync.Mutex // guards members and closed
	members []*Membership
	closed  bool

	stopAfterFunc func() bool
	closeOnce     sync.Once
	closeErr      error
}

// New returns a Group that registers masters under path (such as "/mesos")
// on the ZooKeeper servers ("host:port"). It connects nothing yet: each Join
// opens its own session, and creates path, with persistent nodes, if it is
// missing. When ctx is cancelled the group closes, as by Close. A nil logger
// discards; ZooKeeper client logs go to it, never to stderr.
func New(ctx context.Context, servers []string, path string, logger *slog.Logger) (*Group, error) {
	if len(servers) == 0 {
		return nil, errors.New("zkmasters: no ZooKeeper servers")
	}
	for _, s := range servers {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("zkmasters: empty ZooKeeper server in %q", servers)
		}
	}
	if err := validatePath(path); err != nil {
		return nil, fmt.Errorf("zkmasters: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Group{
		ctx:            ctx,
		servers:        slices.Clone(servers),
		path:           path,
		logger:         logger.With("zk_group", path),
		sessionTimeout: SessionTimeout,
		dialer:         net.DialTimeout,
	}
	g.stopAfterFunc = context.AfterFunc(ctx, func() { _ = g.Close() })
	return g, nil
}

// Path returns the group znode.
func (g *Group) Path() string { return g.path }

// Join registers a master: it opens a ZooKeeper session of its own and
// creates path/json.info_<seq> in it, holding m as Mesos MasterInfo JSON.
// The new node sorts after every existing one, so the master leads only once
// all masters that joined before it have left.
//
// m needs an IPv4 address, in IP or else in PID ("master@ip:port"); Port
// defaults to PID's port, then 5050; Hostname to the IP; PID to
// "master@ip:port".
func (g *Group) Join(m cluster.MasterInfo) (*Membership, error) {
	data, err := encodeMasterInfo(m)
	if err != nil {
		return nil, fmt.Errorf("zkmasters: master %q: %w", m.ID, err)
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if g.isClosed() {
		return nil, ErrClosed
	}
	mb := &Membership{
		g:      g,
		info:   m,
		data:   data,
		logger: g.logger.With("master", m.ID),
	}
	s, err := g.openSession(mb)
	if err != nil {
		return nil, err
	}
	mb.mu.Lock()
	mb.sess = s
	mb.mu.Unlock()
	g.mu.Lock()
	g.members = append(g.members, mb)
	g.mu.Unlock()
	mb.logger.Info("master joined the group", "node", s.node)
	return mb, nil
}

// Members returns every master ever joined, in join order, including those
// that have left; the index is the master's identity in MakeLeader.
func (g *Group) Members() []*Membership {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.members)
}

// MakeLeader makes master idx (an index into Members) the leader, by doing
// what happens in a real cluster when masters restart: every master whose node
// sorts before idx's re-joins with a new session, so its new node sorts last.
//
// The new nodes are created before the old sessions end, and the old sessions
// end from the highest sequence down, so the old leader keeps its node until
// the very end and leadership moves straight to idx: watchers never see one of
// the other masters lead in between. The masters' relative order is kept.
// Masters that have left are not touched. If idx already leads, nothing
// happens.
func (g *Group) MakeLeader(idx int) error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if g.isClosed() {
		return ErrClosed
	}
	members := g.Members()
	if idx < 0 || idx >= len(members) {
		return fmt.Errorf("zkmasters: MakeLeader(%d): there are %d masters", idx, len(members))
	}
	target := members[idx]
	tseq, ok := Sequence(target.Node())
	if !ok {
		return fmt.Errorf("zkmasters: MakeLeader(%d): master %q is not in the group", idx, target.info.ID)
	}
	type earlier struct {
		m   *Membership
		seq int64
	}
	var before []earlier
	for _, m := range members {
		if seq, ok := Sequence(m.Node()); ok && seq < tseq {
			before = append(before, earlier{m, seq})
		}
	}
	slices.SortFunc(before, func(a, b earlier) int { return cmp.Compare(a.seq, b.seq) })

	fresh := make([]*session, 0, len(before))
	for _, e := range before {
		s, err := g.openSession(e.m)
		if err != nil {
			for _, s := range fresh {
				_ = s.close(e.m.logger)
			}
			return fmt.Errorf("zkmasters: MakeLeader(%d): %w", idx, err)
		}
		fresh = append(fresh, s)
	}
	var errs []error
	for i := len(before) - 1; i >= 0; i-- {
		m := before[i].m
		m.mu.Lock()
		old := m.sess
		m.sess = fresh[i]
		m.mu.Unlock()
		m.logger.Info("master re-joined the group", "node", fresh[i].node)
		if old != nil {
			errs = append(errs, old.close(m.logger))
		}
	}
	return errors.Join(errs...)
}

// Close makes every master leave and stops the group; later Joins fail with
// ErrClosed. It waits for the ZooKeeper clients to stop and is idempotent.
func (g *Group) Close() error {
	g.closeOnce.Do(func() {
		g.stopAfterFunc()
		g.opMu.Lock()
		defer g.opMu.Unlock()
		g.mu.Lock()
		g.closed = true
		members := slices.Clone(g.members)
		g.mu.Unlock()
		var errs []error
		for _, m := range members {
			errs = append(errs, m.leave())
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

func (g *Group) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed || g.ctx.Err() != nil
}

// Membership is one master's place in the group.
type Membership struct {
	g      *Group
	info   cluster.MasterInfo
	data   []byte
	logger *slog.Logger

	mu   sync.Mutex
	sess *session // nil while the master is not in the group
}

// Info returns the MasterInfo the master registered.
func (m *Membership) Info() cluster.MasterInfo { return m.info }

// Node returns the master's znode ("/mesos/json.info_0000000003"), or "" when
// the master is not in the group: it left, or its session expired.
func (m *Membership) Node() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sess == nil {
		return ""
	}
	return m.sess.node
}

// Leave ends the master's session, so ZooKeeper deletes its node at once, as
// when a master shuts down (a crashed master's node would linger until its
// session timed out). It returns once the client has stopped; the master
// stays in Members and can Rejoin. Leaving twice is not an error.
func (m *Membership) Leave() error {
	m.g.opMu.Lock()
	defer m.g.opMu.Unlock()
	return m.leave()
}

// Rejoin restarts the master: it leaves if it is in the group, then joins
// with a new session and a new node that sorts after all others. If it was
// the leader, the next master leads in between, as with a real restart; to
// hand leadership over without that step, use Group.MakeLeader.
func (m *Membership) Rejoin() error {
	m.g.opMu.Lock()
	defer m.g.opMu.Unlock()
	if m.g.isClosed() {
		return ErrClosed
	}
	if err := m.leave(); err != nil {
		return err
	}
	s, err := m.g.openSession(m)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.sess = s
	m.mu.Unlock()
	m.logger.Info("master re-joined the group", "node", s.node)
	return nil
}

// leave ends the current session, if any. The caller holds g.opMu.
func (m *Membership) leave() error {
	m.mu.Lock()
	s := m.sess
	m.sess = nil
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	m.logger.Info("master leaving the group", "node", s.node)
	return s.close(m.logger)
}

// expired is called when ZooKeeper reports that s has expired: its node is
// gone. A real master exits when that happens, so the master is now out of
// the group, and the client (which would go on with a fresh, empty session)
// is closed.
func (m *Membership) expired(s *session) {
	m.mu.Lock()
	current := m.sess == s
	var node string
	if current {
		node = s.node // read under m.mu: s was published under it
		m.sess = nil
	}
	m.mu.Unlock()
	if current {
		m.logger.Warn("ZooKeeper session expired: master is out of the group, as a real master would exit", "node", node)
	}
	s.conn.Close()
}

// session is one ZooKeeper session of one master.
type session struct {
	conn     *zk.Conn
	node     string
	ready    chan struct{} // closed once the session is established
	finished chan struct{} // closed once the client's goroutines are done
}

// openSession connects a new session for m and creates m's node in it.
func (g *Group) openSession(m *Membership) (*session, error) {
	if err := g.ctx.Err(); err != nil {
		return nil, ErrClosed
	}
	conn, events, err := zk.Connect(g.servers, g.sessionTimeout,
		zk.WithLogger(printfLogger{m.logger.With("component", "zk-client")}),
		zk.WithLogInfo(true), // routine messages go to slog at debug level
		zk.WithDialer(g.dialer))
	if err != nil {
		return nil, fmt.Errorf("zkmasters: master %q: connecting to ZooKeeper %v: %w", m.info.ID, g.servers, err)
	}
	s := &session{conn: conn, ready: make(chan struct{}), finished: make(chan struct{})}
	go s.watch(m, events)

	timer := time.NewTimer(ConnectTimeout)
	defer timer.Stop()
	select {
	case <-s.ready:
	case <-g.ctx.Done():
		_ = s.close(m.logger)
		return nil, ErrClosed
	case <-timer.C:
		_ = s.close(m.logger)
		return nil, fmt.Errorf("zkmasters: master %q: no ZooKeeper session with %v within %v", m.info.ID, g.servers, ConnectTimeout)
	}

	if err := ensurePath(conn, g.path); err != nil {
		_ = s.close(m.logger)
		return nil, fmt.Errorf("zkmasters: master %q: creating %s: %w", m.info.ID, g.path, err)
	}
	// Not CreateProtectedEphemeralSequential: its "_c_<guid>-" prefix would
	// make the node unrecognisable as a Mesos membership. Should the reply
	// be lost, closing the session removes whatever node was created.
	node, err := conn.Create(g.path+"/"+Label, m.data, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		_ = s.close(m.logger)
		return nil, fmt.Errorf("zkmasters: master %q: creating its node in %s: %w", m.info.ID, g.path, err)
	}
	s.node = node
	return s, nil
}

// watch follows the session's events until the client has stopped: it
// reports when the session is ready and handles its expiry.
func (s *session) watch(m *Membership, events <-chan zk.Event) {
	defer close(s.finished)
	established := false
	for ev := range events {
		m.logger.Debug("ZooKeeper session event", "state", ev.State.String(), "server", ev.Server)
		switch ev.State {
		case zk.StateHasSession:
			if !established {
				established = true
				close(s.ready)
			}
		case zk.StateExpired:
			m.expired(s)
		}
	}
}

// close ends the session and waits for the client to stop. ZooKeeper deletes
// the node when it processes the close, before it replies; if the server
// cannot be reached, the node goes when the session times out instead.
func (s *session) close(logger *slog.Logger) error {
	s.conn.Close()
	timer := time.NewTimer(SessionTimeout)
	defer timer.Stop()
	select {
	case <-s.finished:
		return nil
	case <-timer.C:
		logger.Warn("ZooKeeper client did not stop in time", "node", s.node, "waited", SessionTimeout)
		return fmt.Errorf("zkmasters: ZooKeeper client for %s did not stop within %v", s.node, SessionTimeout)
	}
}

// ensurePath creates path and its ancestors as empty persistent nodes where
// they are missing, as a Mesos master does for its group znode.
func ensurePath(conn *zk.Conn, path string) error {
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		p := path[:i]
		exists, _, err := conn.Exists(p)
		if err != nil {
			return err
		}
		if exists {
			continue
		}
		if _, err := conn.Create(p, nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return nil
}

// Sequence returns the sequence number of a membership node, the part after
// the last '_' of its name, as a Mesos detector reads it; ok is false for
// anything else (log_replicas, "", names without a number).
func Sequence(node string) (seq int64, ok bool) {
	name := node[strings.LastIndexByte(node, '/')+1:]
	i := strings.LastIndexByte(name, '_')
	if i < 0 || i == len(name)-1 {
		return 0, false
	}
	seq, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil || seq < 0 {
		return 0, false
	}
	return seq, true
}

// printfLogger routes the ZooKeeper client's Printf logging into slog, so
// nothing goes to the standard logger (stderr). The client logs free text;
// messages about failures are warnings, the rest (connected, authenticated,
// loops ending on close) are debug.
type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelDebug
	lower := strings.ToLower(msg)
	for _, w := range []string{"fail", "error", "gave up", "expired"} {
		if strings.Contains(lower, w) {
			level = slog.LevelWarn
			break
		}
	}
	p.l.Log(context.Background(), level, msg)
}
