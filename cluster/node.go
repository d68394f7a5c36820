package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/rooms"
)

// Defaults for the zero values of Config fields.
const (
	DefaultPrefix          = "wsloop"
	DefaultPresenceTimeout = 200 * time.Millisecond

	// A node announces itself this often, and is gone when not heard from
	// for goneAfter. Until then, presence queries wait PresenceTimeout for
	// it and name it missing; its members are absent from the answers at
	// once. Every announcement wakes every node: at 1 s, an idle cluster of
	// 3 costs well under 0.1 % of a core per node.
	heartbeatEvery = time.Second
	goneAfter      = 3 * time.Second
)

// Config configures a Node. URL and Name are required.
type Config struct {
	// URL is the NATS server to join, or several, comma-separated
	// ("nats://10.0.0.1:4222,nats://10.0.0.2:4222"); credentials may go in
	// the URL.
	URL string

	// Name names this node in the cluster (logs, presence answers); it
	// must be unique. The binary derives it from the host name and port.
	Name string

	// Prefix is the first token of every subject (and of the lease
	// bucket's name), so that several clusters can share one NATS. Zero
	// means "wsloop". Every node of a cluster must use the same one.
	Prefix string

	// PresenceTimeout bounds how long a presence query waits for the other
	// nodes; whoever has not answered by then is left out and named. Zero
	// means 200 ms.
	PresenceTimeout time.Duration

	// Clock times the node's announcements and how long a silent node is
	// still counted (see heartbeatEvery). Zero means clock.System(). The
	// waits on the network (a presence query's PresenceTimeout, the lease
	// bucket's operations) are in real time.
	Clock clock.Clock

	// Logger receives the node's logs. Zero means slog.Default().
	Logger *slog.Logger
}

// Stats are a node's counters.
type Stats struct {
	Connected     bool   // to NATS, now
	Nodes         int    // live nodes known, this one included
	Published     uint64 // events sent to the other nodes
	PublishErrors uint64 // events that could not be sent (not connected, NATS refused)
	Received      uint64 // events from the other nodes
	BadMessages   uint64 // messages that could not be read (another version, garbage)
	Reconnects    uint64
}

// Node is one wsloop node's link to the others. Create it with New, give
// it to server.Config as Broker (and its ID as NodeID), then Attach the
// server.
type Node struct {
	cfg Config
	id  uint16
	nc  *nats.Conn
	log *slog.Logger

	deliver atomic.Pointer[func(rooms.Event)]
	local   atomic.Pointer[Local]

	msgs        chan *nats.Msg // every subscription's messages, in arrival order
	done        chan struct{}
	announceNow chan struct{} // asks the announcer to say hi now

	mu    sync.Mutex
	subs  map[string]*subscription // by subject
	peers map[string]peer          // live nodes but this one, by name
	fixed []*nats.Subscription     // .all, .node.<id>, .nodes, .presence

	published, publishErrors, received, badMessages, reconnects atomic.Uint64
	closeOnce                                                   sync.Once
}

type subscription struct {
	sub  *nats.Subscription
	refs int // Subscribe calls not yet undone by Unsubscribe
}

type peer struct {
	id   uint16
	seen time.Time
}

// Local is what a node answers the others' presence queries with: the
// server's own part (*server.Server is one).
type Local interface {
	LocalPresence(room string, limit int) rooms.RoomPresence
	EachName(kind rooms.Kind, fn func(name string) bool)
	Count() int
}

var _ rooms.Broker = (*Node)(nil)
var _ rooms.Presence = (*Node)(nil)

// New joins the NATS server at cfg.URL. If it cannot be reached now, New
// still returns the node, which serves its own clients and keeps trying
// (Stats.Connected says whether it is in): a node never refuses to start
// because NATS is down.
func New(cfg Config) (*Node, error) {
	if cfg.URL == "" || cfg.Name == "" {
		return nil, errors.New("cluster: Config.URL and Config.Name are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, ".*> \t") {
		return nil, fmt.Errorf("cluster: Prefix %q must be one subject token", cfg.Prefix)
	}
	if cfg.PresenceTimeout == 0 {
		cfg.PresenceTimeout = DefaultPresenceTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Name), msgs: make(chan *nats.Msg, 1<<16), done: make(chan struct{}), announceNow: make(chan struct{}, 1),
		subs: make(map[string]*subscription), peers: make(map[string]peer)}
	var b [2]byte
	for n.id == 0 {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		n.id = binary.BigEndian.Uint16(b[:])
	}
	nc, err := nats.Connect(cfg.URL,
		nats.Name("wsloop "+cfg.Name),
		nats.NoEcho(), // a node does not get back what it published
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
		nats.ReconnectBufSize(-1), // at most once: nothing queued while cut off
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if n.closed() {
				return // Close: not news
			}
			n.log.Warn("cluster link down; local delivery goes on, cross-node delivery stops", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.reconnects.Add(1)
			n.announceSoon()
			n.log.Info("cluster link back", "server", c.ConnectedUrlRedacted())
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			n.log.Info("cluster link up", "server", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			n.log.Warn("cluster link error", "subject", subj, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.nc = nc
	if !nc.IsConnected() {
		n.log.Warn("NATS unreachable; serving local clients and retrying")
	}
	return n, nil
}

// ID is this node's id: a random number other than 0, picked at New. Give
// it to server.Config.NodeID: every session id carries it. (Two nodes that
// drew the same id, one chance in 65 535 per pair, say so in their logs.)
func (n *Node) ID() uint16 { return n.id }

// Name is this node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Conn is the node's NATS connection, for what else a server keeps in NATS
// (LeaseStore).
func (n *Node) Conn() *nats.Conn { return n.nc }

// Attach gives the node the server it answers presence queries for.
func (n *Node) Attach(l Local) { n.local.Store(&l) }

// subject is prefix.kind.base64url(name).
func (n *Node) subject(kind string, name string) string {
	var b strings.Builder
	b.Grow(len(n.cfg.Prefix) + len(kind) + 2 + base64.RawURLEncoding.EncodedLen(len(name)))
	b.WriteString(n.cfg.Prefix)
	b.WriteByte('.')
	b.WriteString(kind)
	b.WriteByte('.')
	b.WriteString(base64.RawURLEncoding.EncodeToString([]byte(name)))
	return b.String()
}

func (n *Node) subjectOf(k rooms.Kind, name string, session uint64) string {
	switch k {
	case rooms.ToRoom:
		return n.subject("room", name)
	case rooms.ToUser:
		return n.subject("user", name)
	case rooms.ToSession:
		return n.cfg.Prefix + ".node." + strconv.FormatUint(uint64(uint16(session>>40)), 10)
	}
	return n.cfg.Prefix + ".all"
}

// Start implements rooms.Broker: it subscribes to the node's fixed
// subjects and starts the goroutine that hands every event from the other
// nodes to deliver, in the order they arrive.
func (n *Node) Start(deliver func(rooms.Event)) error {
	n.deliver.Store(&deliver)
	for _, subj := range []string{n.cfg.Prefix + ".all", n.subjectOf(rooms.ToSession, "", uint64(n.id)<<40)} {
		s, err := n.nc.ChanSubscribe(subj, n.msgs)
		if err != nil {
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		n.fixed = append(n.fixed, s)
	}
	if err := n.startPresence(); err != nil {
		return err
	}
	go n.dispatch()
	return nil
}

// dispatch delivers the events of every subscription, one at a time.
func (n *Node) dispatch() {
	for {
		select {
		case <-n.done:
			return
		case m := <-n.msgs:
			ev, err := decode(m.Data)
			if err != nil {
				n.badMessages.Add(1)
				continue
			}
			n.received.Add(1)
			if d := n.deliver.Load(); d != nil {
				(*d)(ev)
			}
		}
	}
}

// Publish implements rooms.Broker: one NATS message, on the subject of the
// event's room, user, session node, or .all.
func (n *Node) Publish(ev rooms.Event) error {
	bp := bufs.Get().(*[]byte)
	*bp = encode((*bp)[:0], ev)
	err := n.nc.Publish(n.subjectOf(ev.Kind, ev.Name, ev.Session), *bp)
	bufs.Put(bp)
	if err != nil {
		n.publishErrors.Add(1)
		return fmt.Errorf("cluster: %w", err)
	}
	n.published.Add(1)
	return nil
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Subscribe implements rooms.Broker. It does not wait for the network:
// while the link is down, the subscription is made on reconnection.
func (n *Node) Subscribe(kind rooms.Kind, name string) error {
	subj := n.subjectOf(kind, name, 0)
	n.mu.Lock()
	defer n.mu.Unlock()
	if s := n.subs[subj]; s != nil {
		s.refs++
		return nil
	}
	s, err := n.nc.ChanSubscribe(subj, n.msgs)
	if err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	n.subs[subj] = &subscription{sub: s, refs: 1}
	return nil
}

// Unsubscribe implements rooms.Broker.
func (n *Node) Unsubscribe(kind rooms.Kind, name string) error {
	subj := n.subjectOf(kind, name, 0)
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.subs[subj]
	if s == nil {
		return nil
	}
	if s.refs--; s.refs > 0 {
		return nil
	}
	delete(n.subs, subj)
	if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("cluster: unsubscribe: %w", err)
	}
	return nil
}

// Subscriptions returns how many room and user subjects the node is
// subscribed to now.
func (n *Node) Subscriptions() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}

// Close implements rooms.Broker: it leaves the cluster (the other nodes
// forget this one at once) and closes the NATS connection.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.done)
		if n.nc.IsConnected() { // cut off, there is no one to say goodbye to
			_ = n.nc.Publish(n.cfg.Prefix+".nodes", []byte("bye "+strconv.Itoa(int(n.id))+" "+n.cfg.Name))
			_ = n.nc.FlushTimeout(time.Second)
		}
		n.nc.Close()
	})
	return nil
}

// closed reports whether Close has been called.
func (n *Node) closed() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	nodes := len(n.livePeers()) + 1
	return Stats{
		Connected:     n.nc.IsConnected(),
		Nodes:         nodes,
		Published:     n.published.Load(),
		PublishErrors: n.publishErrors.Load(),
		Received:      n.received.Load(),
		BadMessages:   n.badMessages.Load(),
		Reconnects:    n.reconnects.Load(),
	}
}
