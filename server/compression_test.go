package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/flate"

	"github.com/wsloop/wsloop/codec"
)

// TestNodeClientDeflate: Node's ws, which offers permessage-deflate by
// default, negotiates it; compressed requests, replies and a room message
// to compressed and plain members arrive intact.
func TestNodeClientDeflate(t *testing.T) {
	_, url := startServer(t, Config{Compression: Compression{Enabled: true}, Rooms: Rooms{PublishRate: -1}}, NewRouter())
	nodeClient(t, "deflate", url)
}

// TestGorillaDeflate: gorilla with EnableCompression negotiates it: its
// compressed requests are inflated, the replies compressed; one room
// message reaches a compressed and a plain member intact; a short message
// goes uncompressed.
func TestGorillaDeflate(t *testing.T) {
	srv, url := startServer(t, Config{Compression: Compression{Enabled: true}, Rooms: Rooms{PublishRate: -1}}, NewRouter())
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extensions %q", ext)
	}
	readText(t, c) // welcome
	text := strings.Repeat("squeeze me ", 300)
	writeText(t, c, `{"cmd":"echo","seqno":"1","data":"`+text+`"}`)
	if got := readText(t, c); got != `{"cmd":"echo","seqno":"1","status":0,"msg":"ok","data":"`+text+`"}` {
		t.Fatalf("echo: %.80s…", got)
	}
	plain := dial(t, url) // no compression offered
	readText(t, plain)
	for _, cl := range []*websocket.Conn{c, plain} {
		writeText(t, cl, `{"cmd":"join","seqno":"2","data":{"room":"r"}}`)
		readText(t, cl)
	}
	writeText(t, plain, `{"cmd":"publish","seqno":"3","data":{"room":"r","payload":"`+text+`"}}`)
	want := `{"cmd":"message","data":{"room":"r","from":"`
	for _, cl := range []*websocket.Conn{c, plain} {
		for {
			got := readText(t, cl)
			if strings.HasPrefix(got, `{"cmd":"publish"`) || strings.HasPrefix(got, `{"cmd":"enter_room"`) {
				continue // the publisher's reply, the other's entry
			}
			if !strings.HasPrefix(got, want) || !strings.Contains(got, text) {
				t.Fatalf("room message %.80s…", got)
			}
			break
		}
	}
	if st := srv.Stats(); st.DeflateConns != 1 {
		t.Errorf("DeflateConns = %d, want 1", st.DeflateConns)
	}
}

// TestDeflateOnTheWire: what a compressed connection receives is
// compressed (RSV1) above MinSize and plain below it; what it sends
// compressed is inflated; a deflate bomb is refused with 1009 before its
// memory is spent; a connection without the extension that sets RSV1 is
// closed with 1002.
func TestDeflateOnTheWire(t *testing.T) {
	srv, _ := startServer(t, Config{Compression: Compression{Enabled: true, MinSize: 64}, Limits: Limits{MaxMessageSize: 64 << 10}}, EchoHandler{})
	offer := func(deflate bool) *rawConn {
		rc := dialRaw(t, srv, false)
		ext := ""
		if deflate {
			ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
		}
		rc.send([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + ext + "\r\n"))
		head := rc.readHTTP()
		if deflate != strings.Contains(head, codec.DeflateResponse) {
			t.Fatalf("handshake %q", head)
		}
		return rc
	}
	dfl, _ := codec.NewDeflater(flate.BestSpeed)
	compressed := func(p []byte) []byte {
		c := dfl.Compress(p)
		h := codec.Header{Fin: true, Rsv: 0x4, OpCode: codec.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(c))}
		f := codec.AppendHeader(nil, h)
		start := len(f)
		f = append(f, c...)
		codec.Cipher(f[start:], h.Mask, 0)
		return f
	}
	rc := offer(true)
	big := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	rc.send(compressed(big))
	hdr, payload := rc.readRawFrame()
	if hdr.Rsv != 0x4 || len(payload) >= len(big) {
		t.Fatalf("echo of 4 KiB: rsv %x, %d bytes on the wire", hdr.Rsv, len(payload))
	}
	small := []byte("tiny")
	rc.send(clientFrame(0x82, small, true))
	if hdr, p := rc.readRawFrame(); hdr.Rsv != 0 || !bytes.Equal(p, small) {
		t.Fatalf("short message: rsv %x %q", hdr.Rsv, p)
	}
	rc.send(compressed(make([]byte, 8<<20))) // 8 MiB of zeros in a few KiB
	if why := rc.expectCloseCode(1009); why == "" {
		t.Fatal("no reason")
	}
	plain := offer(false)
	plain.send(compressed(big))
	plain.expectCloseCode(1002)
}
