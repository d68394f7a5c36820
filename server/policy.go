package server

import (
	"fmt"
	"strings"
)

// Access is who may do something with a built-in command.
type Access uint8

// Accesses. Not every one applies to every rule: see Namespace and
// Policy.
const (
	// AccessAny: any connection (the zero value: today's behaviour).
	AccessAny Access = iota
	// AccessAuth: an authenticated connection (Session.Identity: a valid
	// token, or a session lease).
	AccessAuth
	// AccessToken: a connection whose identity grants the room
	// (Identity.Rooms, the token's rooms claim). Join only.
	AccessToken
	// AccessMember: a member of the room. Publish and members only.
	AccessMember
	// AccessNone: no client.
	AccessNone
)

var accessNames = [...]string{"any", "auth", "token", "member", "none"}

// String returns any, auth, token, member or none.
func (a Access) String() string {
	if int(a) < len(accessNames) {
		return accessNames[a]
	}
	return fmt.Sprintf("Access(%d)", a)
}

// ParseAccess parses any, auth, token, member or none.
func ParseAccess(s string) (Access, error) {
	for i, n := range accessNames {
		if s == n {
			return Access(i), nil
		}
	}
	return 0, fmt.Errorf("%q: want any, auth, token, member or none", s)
}

// Namespace is the policy of the rooms of one namespace: the rooms whose
// name starts with the namespace's name and a ':' ("chat:lobby" is room
// lobby of namespace chat). It limits what clients do with the Router's
// built-in commands; the server API and library calls are never limited.
// The zero value is today's behaviour: anyone may join, publish and list
// members, and room events are sent.
type Namespace struct {
	// Join: who may join: AccessAny, AccessAuth, AccessToken or
	// AccessNone.
	Join Access
	// Publish: who may publish (bc or ptp): AccessAny, AccessAuth,
	// AccessMember or AccessNone.
	Publish Access
	// Members: who may ask for the members: AccessAny, AccessAuth,
	// AccessMember or AccessNone.
	Members Access
	// NoEvents: enter_room and exit_room are not sent.
	NoEvents bool
	// ShowSIDs: presence shown to clients (the members command,
	// enter_room, exit_room) names anonymous members by their session id.
	// Without it they are listed with user "": a client cannot learn the
	// session ids of connections it did not hear from.
	ShowSIDs bool
}

// Policy is what clients may do with the built-in commands: per
// namespace, and with send. The zero value is today's behaviour, except
// that presence does not reveal anonymous members' session ids.
type Policy struct {
	// Default is the policy of rooms without a namespace, and of rooms
	// whose prefix names no namespace of Namespaces.
	Default Namespace
	// Namespaces are the configured namespaces, by name (no ':').
	Namespaces map[string]Namespace
	// Send: who may use the send command: AccessAny, AccessAuth or
	// AccessNone.
	Send Access
	// NoSIDAddress: clients may not address a session by its session id
	// (send, ptp to), only users (403).
	NoSIDAddress bool
}

// validate checks that every rule uses an access its command knows.
func (p *Policy) validate() error {
	check := func(ns string, n *Namespace) error {
		switch {
		case n.Join == AccessMember || n.Join > AccessNone:
			return fmt.Errorf("server: namespace %q: join may be any, auth, token or none, not %v", ns, n.Join)
		case n.Publish == AccessToken || n.Publish > AccessNone:
			return fmt.Errorf("server: namespace %q: publish may be any, auth, member or none, not %v", ns, n.Publish)
		case n.Members == AccessToken || n.Members > AccessNone:
			return fmt.Errorf("server: namespace %q: members may be any, auth, member or none, not %v", ns, n.Members)
		}
		return nil
	}
	if err := check("", &p.Default); err != nil {
		return err
	}
	for name, n := range p.Namespaces {
		if name == "" || strings.ContainsRune(name, ':') {
			return fmt.Errorf("server: namespace name %q must be non-empty and without ':'", name)
		}
		if err := check(name, &n); err != nil {
			return err
		}
	}
	if p.Send != AccessAny && p.Send != AccessAuth && p.Send != AccessNone {
		return fmt.Errorf("server: send may be any, auth or none, not %v", p.Send)
	}
	return nil
}

// clone returns p with its own map.
func (p Policy) clone() Policy {
	if p.Namespaces != nil {
		m := make(map[string]Namespace, len(p.Namespaces))
		for k, v := range p.Namespaces {
			m[k] = v
		}
		p.Namespaces = m
	}
	return p
}

// namespaceOf returns the name and policy of room's namespace ("" for the
// default one). It allocates nothing.
func (p *Policy) namespaceOf(room string) (string, *Namespace) {
	if i := strings.IndexByte(room, ':'); i > 0 && p.Namespaces != nil {
		if n, ok := p.Namespaces[room[:i]]; ok {
			return room[:i], &n
		}
	}
	return "", &p.Default
}

// authenticated reports whether s proved an identity.
func (s *Session) authenticated() bool { return s.ext != nil && s.ext.identity != nil }

// nsText names a namespace in a refusal.
func nsText(ns string) string {
	if ns == "" {
		return "rooms without a namespace"
	}
	return "rooms of namespace " + ns
}

// mayJoin returns why s may not join room, or "".
func (p *Policy) mayJoin(s *Session, room string) string {
	ns, n := p.namespaceOf(room)
	switch n.Join {
	case AccessAuth:
		if !s.authenticated() {
			return "join refused: " + nsText(ns) + " need an authenticated connection"
		}
	case AccessToken:
		if !s.authenticated() || !s.ext.identity.Grants(room) {
			return "join refused: " + nsText(ns) + " need a token that grants the room"
		}
	case AccessNone:
		return "join refused: clients may not join " + nsText(ns)
	}
	return ""
}

// mayPublish returns why s may not publish to room, or "".
func (p *Policy) mayPublish(s *Session, room string, member func() bool) string {
	ns, n := p.namespaceOf(room)
	return roomRule(s, n.Publish, ns, member, "publish refused: ",
		"only members of the room may publish to ", "clients may not publish to ")
}

// mayList returns why s may not list room's members, or "".
func (p *Policy) mayList(s *Session, room string, member func() bool) string {
	ns, n := p.namespaceOf(room)
	return roomRule(s, n.Members, ns, member, "members refused: ",
		"only members may list ", "clients may not list the members of ")
}

// roomRule applies an any/auth/member/none rule of namespace ns to s.
func roomRule(s *Session, rule Access, ns string, member func() bool, refused, members, none string) string {
	switch rule {
	case AccessAuth:
		if !s.authenticated() {
			return refused + nsText(ns) + " need an authenticated connection"
		}
	case AccessMember:
		if !member() {
			return refused + members + nsText(ns)
		}
	case AccessNone:
		return refused + none + nsText(ns)
	}
	return ""
}

// maySend returns why s may not send to, or "".
func (p *Policy) maySend(s *Session, to string) string {
	switch p.Send {
	case AccessAuth:
		if !s.authenticated() {
			return "send refused: sending needs an authenticated connection"
		}
	case AccessNone:
		return "send refused: clients may not send"
	}
	return p.mayAddress(to)
}

// mayAddress returns why a client may not address to (a send's or a ptp's
// to), or "".
func (p *Policy) mayAddress(to string) string {
	if p.NoSIDAddress {
		if _, _, err := ParseSID(to); err == nil {
			return "sessions may not be addressed by session id"
		}
	}
	return ""
}

// shown is the user a client sees in room's presence for key (a user, or
// an anonymous connection's session id).
func (p *Policy) shown(room, key string, anonymous bool) string {
	if anonymous {
		if _, n := p.namespaceOf(room); !n.ShowSIDs {
			return ""
		}
	}
	return key
}
