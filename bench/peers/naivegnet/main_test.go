package main

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsloop/wsloop/bench/internal/wsframe"
)

func startNaive(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	proto := "tcp://" + addr
	done := make(chan error, 1)
	go func() { done <- gnet.Run(&server{}, proto, gnet.WithMulticore(true), gnet.WithNumEventLoop(1)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gnet.Stop(ctx, proto)
		<-done
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i > 200 {
			t.Fatalf("naivegnet did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readFrame reads one server frame from c.
func readFrame(t *testing.T, c net.Conn, buf *[]byte) (wsframe.Header, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	tmp := make([]byte, 4096)
	for {
		h, p, n, err := wsframe.Decode(*buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			p = append([]byte(nil), p...)
			*buf = (*buf)[n:]
			return h, p
		}
		k, err := c.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		*buf = append(*buf, tmp[:k]...)
	}
}

// The handshake arrives in pieces; then JSON echo, unknown commands, bad
// JSON and Ping are answered as wsloop's JSON mode answers them.
func TestNaivePeer(t *testing.T) {
	addr := startNaive(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := wsframe.NewKey(1)
	req := wsframe.Request(addr, "/ws", key)
	for _, part := range [][]byte{req[:10], req[10:50], req[50:]} {
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var buf []byte
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	tmp := make([]byte, 4096)
	for {
		k, err := c.Read(tmp)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		buf = append(buf, tmp[:k]...)
		n, err := wsframe.ParseResponse(buf, wsframe.AcceptKey(key))
		if err != nil {
			t.Fatalf("handshake: %v: %q", err, buf)
		}
		if n > 0 {
			buf = buf[n:]
			break
		}
	}

	mask := [4]byte{9, 8, 7, 6}
	for _, tc := range []struct {
		op   wsframe.OpCode
		in   string
		want string
		wop  wsframe.OpCode
	}{
		{wsframe.OpText, `{"cmd":"echo","seqno":"7","data":{"a":[1,2]}}`, `{"cmd":"echo","seqno":"7","status":0,"msg":"ok","data":{"a":[1,2]}}`, wsframe.OpText},
		{wsframe.OpText, `{"cmd":"echo","seqno":"8","data":"xxxx"}`, `{"cmd":"echo","seqno":"8","status":0,"msg":"ok","data":"xxxx"}`, wsframe.OpText},
		{wsframe.OpText, `{"cmd":"nope","seqno":"9"}`, `{"cmd":"nope","seqno":"9","status":404,"msg":"unknown cmd"}`, wsframe.OpText},
		{wsframe.OpText, `{"cmd":`, `{"cmd":"","status":400,"msg":"bad request"}`, wsframe.OpText},
		{wsframe.OpPing, `hi`, `hi`, wsframe.OpPong},
	} {
		// Two frames in one write: each gets its own reply.
		frame := wsframe.AppendClient(nil, tc.op, []byte(tc.in), mask)
		if _, err := c.Write(append(frame, frame...)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			h, p := readFrame(t, c, &buf)
			if h.OpCode != tc.wop || string(p) != tc.want {
				t.Fatalf("%s: got op %d %s, want %s", tc.in, h.OpCode, p, tc.want)
			}
		}
	}
	if _, err := c.Write(wsframe.AppendClient(nil, wsframe.OpClose, []byte{0x03, 0xe8}, mask)); err != nil {
		t.Fatal(err)
	}
	h, p := readFrame(t, c, &buf)
	if h.OpCode != wsframe.OpClose || !bytes.Equal(p, []byte{0x03, 0xe8}) {
		t.Fatalf("close answer: op %d %x", h.OpCode, p)
	}
}
