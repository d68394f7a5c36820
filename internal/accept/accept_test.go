package accept

import (
	"net"
	"testing"
)

func TestTrimAddrs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var last net.IP
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		la, ra := sc.LocalAddr().String(), sc.RemoteAddr().String()
		TrimAddrs(sc, &last)
		if sc.LocalAddr().String() != la || sc.RemoteAddr().String() != ra || ra != cc.LocalAddr().String() {
			t.Fatalf("addresses changed: %s %s → %s %s", la, ra, sc.LocalAddr(), sc.RemoteAddr())
		}
		if ip := sc.RemoteAddr().(*net.TCPAddr).IP; len(ip) != 4 {
			t.Fatalf("remote IP is %d bytes, want 4", len(ip))
		}
		conns = append(conns, sc)
	}
	a, b := conns[0].LocalAddr().(*net.TCPAddr).IP, conns[1].LocalAddr().(*net.TCPAddr).IP
	if &a[0] != &b[0] {
		t.Fatal("two sockets of one listener do not share their local IP")
	}
}
