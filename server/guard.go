package server

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/wsloop/wsloop/codec"
)

// The handshake guards (Limits.AllowedOrigins, MaxConnsPerIP,
// HandshakeRatePerIP): checked on the loop when an upgrade request is
// complete, before the 101; a refusal is an HTTP answer, and the
// connections already held are not touched.

// originRule is one entry of Limits.AllowedOrigins.
type originRule struct {
	scheme   string // lower case
	host     string // lower case; with wildcard, the suffix after "*"
	port     string // "" when the origin has none
	wildcard bool   // "*.example.com": any subdomain
}

// compileOrigins parses Limits.AllowedOrigins.
func compileOrigins(list []string) ([]originRule, error) {
	var rules []originRule
	for _, o := range list {
		scheme, hostport, ok := strings.Cut(strings.ToLower(strings.TrimSpace(o)), "://")
		if !ok || scheme == "" || hostport == "" || strings.ContainsAny(hostport, "/?#@ ") {
			return nil, fmt.Errorf("server: allowed origin %q: want scheme://host[:port], e.g. https://app.example.com or https://*.example.com", o)
		}
		r := originRule{scheme: scheme}
		r.host, r.port = hostport, ""
		if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
			r.host, r.port = hostport[:i], hostport[i+1:]
		}
		if strings.HasPrefix(r.host, "*.") {
			r.wildcard, r.host = true, r.host[1:] // ".example.com"
		}
		if r.host == "" || r.host == "." || strings.Contains(r.host, "*") {
			return nil, fmt.Errorf("server: allowed origin %q: a wildcard may only be the first label (https://*.example.com)", o)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// originAllowed reports whether a browser's Origin header matches a rule.
// It allocates nothing.
func originAllowed(rules []originRule, origin []byte) bool {
	o := string(origin) // no copy: compared only
	scheme, hostport, ok := strings.Cut(o, "://")
	if !ok {
		return false // "null" and other opaque origins
	}
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	for i := range rules {
		r := &rules[i]
		if !strings.EqualFold(scheme, r.scheme) || port != r.port {
			continue
		}
		if r.wildcard {
			if len(host) > len(r.host) && strings.EqualFold(host[len(host)-len(r.host):], r.host) {
				return true
			}
		} else if strings.EqualFold(host, r.host) {
			return true
		}
	}
	return false
}

// ipGuard counts connections and handshakes per client IP address, for
// MaxConnsPerIP and HandshakeRatePerIP. Its map is split in shards, each
// under its own mutex: the loops take one only for a handshake or the close
// of a counted connection.
type ipGuard struct {
	maxConns int32
	rate     float64 // tokens per nanosecond; 0: no rate
	burst    float64
	next     int // the shard the next sweep cleans
	shards   [64]ipShard
}

type ipShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*ipEntry
	_  [40]byte // keep shards' mutexes on their own cache lines
}

type ipEntry struct {
	conns  int32
	tokens float64
	last   int64 // loop clock of the last refill
}

func newIPGuard(l *Limits) *ipGuard {
	if l.MaxConnsPerIP <= 0 && l.HandshakeRatePerIP <= 0 {
		return nil
	}
	g := &ipGuard{maxConns: int32(l.MaxConnsPerIP), burst: float64(l.HandshakeBurstPerIP)}
	if l.HandshakeRatePerIP > 0 {
		g.rate = l.HandshakeRatePerIP / 1e9
	}
	for i := range g.shards {
		g.shards[i].m = make(map[netip.Addr]*ipEntry)
	}
	return g
}

func (g *ipGuard) shard(ip netip.Addr) *ipShard {
	b := ip.As16()
	return &g.shards[(b[15]^b[14]^b[11])%byte(len(g.shards))]
}

// refill brings e's bucket to now.
func (g *ipGuard) refill(e *ipEntry, now int64) {
	if g.rate > 0 && now > e.last {
		e.tokens = math.Min(g.burst, e.tokens+float64(now-e.last)*g.rate)
	}
	e.last = now
}

// admit takes a handshake of ip at now: nil, or the refusal (429 with
// Retry-After) and whether the rate refused it (else the connection
// bound). An admitted connection must be released at its close.
func (g *ipGuard) admit(ip netip.Addr, now int64) (refusal *codec.HandshakeError, byRate bool) {
	sh := g.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[ip]
	if e == nil {
		e = &ipEntry{tokens: g.burst, last: now}
		sh.m[ip] = e
	}
	g.refill(e, now)
	if g.rate > 0 && e.tokens < 1 {
		wait := int64(math.Ceil((1 - e.tokens) / g.rate / 1e9))
		return &codec.HandshakeError{Status: 429, Reason: "too many handshakes from this address", Header: fmt.Sprintf("Retry-After: %d\r\n", max(wait, 1))}, true
	}
	if g.rate > 0 {
		e.tokens-- // every attempt costs, refused or not
	}
	if g.maxConns > 0 && e.conns >= g.maxConns {
		return &codec.HandshakeError{Status: 429, Reason: "too many connections from this address", Header: "Retry-After: 5\r\n"}, false
	}
	e.conns++
	return nil, false
}

// release ends an admitted connection of ip.
func (g *ipGuard) release(ip netip.Addr, now int64) {
	sh := g.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[ip]; e != nil {
		e.conns--
		g.refill(e, now)
		if e.conns <= 0 && (g.rate == 0 || e.tokens >= g.burst) {
			delete(sh.m, ip)
		}
	}
}

// sweep forgets, in one shard per call, the addresses with no connection
// whose bucket has refilled: memory stays bounded by the addresses seen
// in the last burst/rate seconds.
func (g *ipGuard) sweep(now int64) {
	sh := &g.shards[g.next%len(g.shards)]
	g.next++
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for ip, e := range sh.m {
		if e.conns <= 0 {
			g.refill(e, now)
			if g.rate == 0 || e.tokens >= g.burst {
				delete(sh.m, ip)
			}
		}
	}
}

// tracked returns how many addresses the guard holds (tests).
func (g *ipGuard) tracked() int {
	n := 0
	for i := range g.shards {
		g.shards[i].mu.Lock()
		n += len(g.shards[i].m)
		g.shards[i].mu.Unlock()
	}
	return n
}

// remoteIP returns a connection's client address.
func remoteIP(a net.Addr) (netip.Addr, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(ta.IP)
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}
