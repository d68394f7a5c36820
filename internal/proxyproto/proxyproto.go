// Package proxyproto reads the PROXY protocol header (versions 1 and 2, as
// HAProxy specifies it) that a load balancer sends at the start of a
// connection to tell the server the client's address: HAProxy's
// send-proxy, nginx's proxy_protocol, AWS NLB. It parses from a byte slice
// that may hold only part of the header and never reads past the header.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// (Parse allocates the strings netip parses addresses from: once per
// connection, not on a hot path.)

// MaxV1 is the longest version 1 header, CRLF included.
const MaxV1 = 107

// MaxV2 bounds the version 2 headers Parse accepts (16 bytes and the
// addresses with their TLVs); the protocol allows 64 KiB of TLVs, no load
// balancer sends more than a few hundred bytes.
const MaxV2 = 16 + 1024

var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// Errors of Parse. Any of them means the connection did not start with a
// PROXY header it may be read by: close it.
var (
	ErrNotProxy  = errors.New("proxyproto: the connection does not start with a PROXY protocol header")
	ErrMalformed = errors.New("proxyproto: malformed PROXY protocol header")
	ErrTooLong   = errors.New("proxyproto: PROXY protocol header too long")
)

// Parse reads the header at the start of b. It returns its length (0 with
// a nil error when b holds only part of it: call again with more), and the
// client's address, which is zero (not IsValid) when the proxy sent none
// (v1 "PROXY UNKNOWN", v2 LOCAL, a family other than TCP over IPv4 or
// IPv6): the connection is the proxy's own, a health check.
func Parse(b []byte) (n int, src netip.AddrPort, err error) {
	switch {
	case len(b) >= 1 && b[0] == 'P':
		return parseV1(b)
	case len(b) >= 1 && b[0] == '\r':
		return parseV2(b)
	case len(b) == 0:
		return 0, netip.AddrPort{}, nil
	}
	return 0, netip.AddrPort{}, ErrNotProxy
}

func parseV1(b []byte) (int, netip.AddrPort, error) {
	if k := min(len(b), len(sigV1)); !bytes.Equal(b[:k], sigV1[:k]) {
		return 0, netip.AddrPort{}, ErrNotProxy
	}
	end := bytes.Index(b[:min(len(b), MaxV1)], []byte("\r\n"))
	if end < 0 {
		if len(b) >= MaxV1 {
			return 0, netip.AddrPort{}, ErrTooLong
		}
		return 0, netip.AddrPort{}, nil
	}
	line := b[len(sigV1):end]
	n := end + 2
	proto, rest, _ := bytes.Cut(line, []byte{' '})
	switch string(proto) {
	case "UNKNOWN":
		return n, netip.AddrPort{}, nil // whatever follows is to be ignored
	case "TCP4", "TCP6":
	default:
		return 0, netip.AddrPort{}, ErrMalformed
	}
	var f [4][]byte
	for i := range f {
		var ok bool
		f[i], rest, ok = bytes.Cut(rest, []byte{' '})
		if ok != (i < 3) {
			return 0, netip.AddrPort{}, ErrMalformed
		}
	}
	src, err1 := netip.ParseAddr(string(f[0]))
	dst, err2 := netip.ParseAddr(string(f[1]))
	sport, err3 := parsePort(f[2])
	_, err4 := parsePort(f[3])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || src.Is4() != (string(proto) == "TCP4") || dst.Is4() != src.Is4() || src.Zone() != "" {
		return 0, netip.AddrPort{}, ErrMalformed
	}
	return n, netip.AddrPortFrom(src, sport), nil
}

// parsePort reads a decimal port without sign or leading zeros.
func parsePort(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, ErrMalformed
	}
	v, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, ErrMalformed
	}
	return uint16(v), nil
}

func parseV2(b []byte) (int, netip.AddrPort, error) {
	if k := min(len(b), len(sigV2)); !bytes.Equal(b[:k], sigV2[:k]) {
		return 0, netip.AddrPort{}, ErrNotProxy
	}
	if len(b) < 16 {
		return 0, netip.AddrPort{}, nil
	}
	verCmd, fam := b[12], b[13]
	length := int(binary.BigEndian.Uint16(b[14:16]))
	if verCmd>>4 != 2 {
		return 0, netip.AddrPort{}, ErrMalformed
	}
	if 16+length > MaxV2 {
		return 0, netip.AddrPort{}, ErrTooLong
	}
	if len(b) < 16+length {
		return 0, netip.AddrPort{}, nil
	}
	n := 16 + length
	body := b[16:n]
	switch verCmd & 0xF {
	case 0x0: // LOCAL: the proxy's own connection
		return n, netip.AddrPort{}, nil
	case 0x1: // PROXY
	default:
		return 0, netip.AddrPort{}, ErrMalformed
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if len(body) < 12 {
			return 0, netip.AddrPort{}, ErrMalformed
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		return n, netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10])), nil
	case 0x21: // TCP over IPv6
		if len(body) < 36 {
			return 0, netip.AddrPort{}, ErrMalformed
		}
		src := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		return n, netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34])), nil
	}
	// UNSPEC, UDP, UNIX: no TCP client address to take.
	return n, netip.AddrPort{}, nil
}
