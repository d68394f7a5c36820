package cluster

import (
	"encoding/json"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsloop/wsloop/rooms"
)

// presenceCap bounds what one node sends of a room's users (with their
// meta) or of its user and room names (hashed) in a presence answer. Up to
// it, the cluster's counts are exact; past it, a node's figures are added
// as they are (a user on two such nodes is counted twice).
const presenceCap = 10_000

type presenceRequest struct {
	Room   string `json:"room,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Online bool   `json:"online,omitempty"`
}

type presenceUser struct {
	User  string          `json:"user"`
	Conns int             `json:"conns"`
	Meta  json.RawMessage `json:"meta,omitempty"`
	Anon  bool            `json:"anon,omitempty"`
}

type presenceAnswer struct {
	Node string `json:"node"`
	// A room's part: its users (all of them up to presenceCap), how many
	// there are, and its connections.
	Users []presenceUser `json:"users,omitempty"`
	Total int            `json:"total"`
	Conns int            `json:"conns"`
	// The online part: hashes of the node's user and room names (nil when
	// over presenceCap: then the counts).
	UserHashes []uint64 `json:"user_hashes,omitempty"`
	RoomHashes []uint64 `json:"room_hashes,omitempty"`
	UserCount  int      `json:"user_count,omitempty"`
	RoomCount  int      `json:"room_count,omitempty"`
}

// startPresence subscribes to the node announcements and the presence
// queries, and starts announcing this node.
func (n *Node) startPresence() error {
	s, err := n.nc.Subscribe(n.cfg.Prefix+".nodes", n.onAnnouncement)
	if err != nil {
		return err
	}
	n.fixed = append(n.fixed, s)
	if s, err = n.nc.Subscribe(n.cfg.Prefix+".presence", n.onQuery); err != nil {
		return err
	}
	n.fixed = append(n.fixed, s)
	go n.announce()
	return nil
}

// announce says "hi <id> <name>" on .nodes every heartbeatEvery, and at
// once when announceSoon asks (a node it did not know, a reconnection).
func (n *Node) announce() {
	hello := []byte("hi " + strconv.Itoa(int(n.id)) + " " + n.cfg.Name)
	for {
		_ = n.nc.Publish(n.cfg.Prefix+".nodes", hello)
		t := n.cfg.Clock.AfterFunc(heartbeatEvery, n.announceSoon)
		select {
		case <-n.done:
			t.Stop()
			return
		case <-n.announceNow:
			t.Stop()
		}
	}
}

// announceSoon makes the announcer say hi now rather than at its next
// tick: a node that has just joined learns of the others at once.
func (n *Node) announceSoon() {
	select {
	case n.announceNow <- struct{}{}:
	default:
	}
}

// onAnnouncement records another node's "hi <id> <name>" or forgets it on
// "bye <id> <name>".
func (n *Node) onAnnouncement(m *nats.Msg) {
	what, rest, _ := strings.Cut(string(m.Data), " ")
	idText, name, _ := strings.Cut(rest, " ")
	id, err := strconv.ParseUint(idText, 10, 16)
	if err != nil || name == "" || name == n.cfg.Name {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if what == "bye" {
		delete(n.peers, name)
		return
	}
	if _, known := n.peers[name]; !known {
		if uint16(id) == n.id {
			n.log.Error("another node has this node's id: sessions of the two cannot be told apart; restart one", "other", name, "id", id)
		}
		n.log.Info("node joined", "other", name)
		n.announceSoon() // so that it knows of this one without waiting
	}
	n.peers[name] = peer{id: uint16(id), seen: n.cfg.Clock.Now()}
}

// livePeers returns the other nodes heard from within goneAfter, and
// forgets the others.
func (n *Node) livePeers() map[string]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	live := make(map[string]bool, len(n.peers))
	now := n.cfg.Clock.Now()
	for name, p := range n.peers {
		if now.Sub(p.seen) > goneAfter {
			delete(n.peers, name)
			n.log.Info("node gone", "other", name)
			continue
		}
		live[name] = true
	}
	return live
}

// onQuery answers another node's presence query with this node's part.
func (n *Node) onQuery(m *nats.Msg) {
	lp := n.local.Load()
	if lp == nil || m.Reply == "" {
		return
	}
	local := *lp
	var req presenceRequest
	if json.Unmarshal(m.Data, &req) != nil {
		return
	}
	a := presenceAnswer{Node: n.cfg.Name}
	if req.Online {
		a.Conns = local.Count()
		a.UserHashes, a.UserCount = hashNames(local, rooms.ToUser)
		a.RoomHashes, a.RoomCount = hashNames(local, rooms.ToRoom)
	} else {
		p := local.LocalPresence(req.Room, presenceCap)
		a.Total, a.Conns = p.Total, p.Conns
		for _, u := range p.Users {
			a.Users = append(a.Users, presenceUser{User: u.User, Conns: u.Conns, Meta: u.Meta, Anon: u.Anonymous})
		}
	}
	b, err := json.Marshal(a)
	if err == nil {
		_ = n.nc.Publish(m.Reply, b)
	}
}

// hashNames returns the 64-bit hashes of the node's room or user names, or
// nil and their count when there are more than presenceCap.
func hashNames(local Local, kind rooms.Kind) ([]uint64, int) {
	var hs []uint64
	count := 0
	local.EachName(kind, func(name string) bool {
		if count++; count <= presenceCap {
			h := fnv.New64a()
			_, _ = h.Write([]byte(name))
			hs = append(hs, h.Sum64())
		}
		return true // go on counting
	})
	if count > presenceCap {
		return nil, count
	}
	return hs, count
}

// query asks every other live node and returns their answers, and the
// live nodes that did not answer within the timeout.
func (n *Node) query(req presenceRequest) ([]presenceAnswer, []string, error) {
	peers := n.livePeers()
	if len(peers) == 0 {
		return nil, nil, nil
	}
	missing := func(answered map[string]bool) []string {
		var m []string
		for name := range peers {
			if !answered[name] {
				m = append(m, name)
			}
		}
		sort.Strings(m)
		return m
	}
	if !n.nc.IsConnected() {
		return nil, missing(nil), nil
	}
	inbox := n.nc.NewRespInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, missing(nil), err
	}
	defer func() { _ = sub.Unsubscribe() }()
	body, _ := json.Marshal(req)
	if err := n.nc.PublishRequest(n.cfg.Prefix+".presence", inbox, body); err != nil {
		return nil, missing(nil), err
	}
	deadline := time.Now().Add(n.cfg.PresenceTimeout)
	answered := make(map[string]bool, len(peers))
	var answers []presenceAnswer
	for len(answered) < len(peers) {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		m, err := sub.NextMsg(left)
		if err != nil {
			break // the timeout, or the link went down
		}
		var a presenceAnswer
		if json.Unmarshal(m.Data, &a) != nil || answered[a.Node] {
			continue
		}
		answered[a.Node] = true
		answers = append(answers, a)
	}
	return answers, missing(answered), nil
}

// RoomPresence implements rooms.Presence: local merged with every other
// live node's part of room. Users on several nodes are listed once, their
// connections summed.
func (n *Node) RoomPresence(room string, limit int, local rooms.RoomPresence) (rooms.RoomPresence, error) {
	answers, missing, err := n.query(presenceRequest{Room: room, Limit: limit})
	if len(answers) == 0 && len(missing) == 0 {
		return local, err // no other node
	}
	byUser := make(map[string]*rooms.PresentUser)
	var order []string
	add := func(user string, conns int, meta []byte, anon bool) {
		if p := byUser[user]; p != nil {
			p.Conns += conns
			if p.Meta == nil {
				p.Meta = meta
			}
			return
		}
		byUser[user] = &rooms.PresentUser{User: user, Conns: conns, Meta: meta, Anonymous: anon}
		order = append(order, user)
	}
	out := rooms.RoomPresence{Partial: len(missing) > 0, Missing: missing, Conns: local.Conns}
	extra := 0 // users of nodes that sent only part of their list
	if lp := n.local.Load(); lp != nil {
		local = (*lp).LocalPresence(room, presenceCap) // all of it, to merge with the others'
	}
	for _, u := range local.Users {
		add(u.User, u.Conns, u.Meta, u.Anonymous)
	}
	extra += local.Total - len(local.Users)
	for _, a := range answers {
		out.Conns += a.Conns
		for _, u := range a.Users {
			add(u.User, u.Conns, u.Meta, u.Anon)
		}
		extra += a.Total - len(a.Users)
	}
	out.Total = len(order) + extra
	for _, user := range order {
		if limit > 0 && len(out.Users) == limit {
			break
		}
		out.Users = append(out.Users, *byUser[user])
	}
	return out, nil
}

// Online implements rooms.Presence: users and rooms counted once across
// the nodes (up to presenceCap names per node), connections summed.
func (n *Node) Online(local rooms.Online) (rooms.Online, error) {
	answers, missing, err := n.query(presenceRequest{Online: true})
	if len(answers) == 0 && len(missing) == 0 {
		return local, err // no other node
	}
	out := rooms.Online{Conns: local.Conns, Partial: len(missing) > 0, Missing: missing}
	users, roomSet := map[uint64]bool{}, map[uint64]bool{}
	extraUsers, extraRooms := 0, 0
	merge := func(set map[uint64]bool, hs []uint64, count int, extra *int) {
		if hs == nil && count > 0 {
			*extra += count
			return
		}
		for _, h := range hs {
			set[h] = true
		}
	}
	if lp := n.local.Load(); lp != nil {
		hs, c := hashNames(*lp, rooms.ToUser)
		merge(users, hs, c, &extraUsers)
		hs, c = hashNames(*lp, rooms.ToRoom)
		merge(roomSet, hs, c, &extraRooms)
	} else {
		extraUsers, extraRooms = local.Users, local.Rooms
	}
	for _, a := range answers {
		out.Conns += a.Conns
		merge(users, a.UserHashes, a.UserCount, &extraUsers)
		merge(roomSet, a.RoomHashes, a.RoomCount, &extraRooms)
	}
	out.Users, out.Rooms = len(users)+extraUsers, len(roomSet)+extraRooms
	return out, nil
}
