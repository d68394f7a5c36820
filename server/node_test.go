package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// nodeClient runs test/node/client.mjs (Node's ws package) against url,
// with env added to its environment.
// .ci/run installs Node and the package; outside CI a machine without them
// skips, in CI it fails.
func nodeClient(t *testing.T, mode, url string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := nodeCommand(t, ctx, mode, url)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("node client (%s):\n%s", mode, out)
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("node client failed: %v", err)
	}
}

// nodeCommand returns the command that runs client.mjs in mode against
// url, or skips (fails in CI) when Node's ws is not installed.
func nodeCommand(t *testing.T, ctx context.Context, mode, url string) *exec.Cmd {
	t.Helper()
	dir, err := filepath.Abs("../test/node")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "ws"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Node's ws client is not installed (%v): run `npm ci` in test/node", err)
		}
		t.Skipf("Node's ws client is not installed (%v): run `npm ci` in test/node", err)
	}
	cmd := exec.CommandContext(ctx, node, "client.mjs", mode, url)
	cmd.Dir = dir
	return cmd
}

// TestNodeClientUTF8: Node's ws, which fails its connection on a text frame
// that is not UTF-8, receives every push kind while other clients send
// binary messages that are not UTF-8 (each is closed with 1007) and the
// library is handed such bytes (each call is refused);
// then it asks for every reply kind with binary JSON.
func TestNodeClientUTF8(t *testing.T) {
	srv, url := startServer(t, Config{}, NewRouter())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := nodeCommand(t, ctx, "utf8", url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := bufio.NewScanner(stdout)
	sid := ""
	for sid == "" && lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		sid, _ = strings.CutPrefix(lines.Text(), "SID ")
	}
	finish := func() {
		for lines.Scan() {
			out.WriteString(lines.Text() + "\n")
		}
		err := cmd.Wait()
		t.Logf("node client (utf8):\n%s", out.String())
		if err != nil || !strings.Contains(out.String(), "PASS") {
			t.Fatalf("node client failed: %v", err)
		}
	}
	if sid == "" {
		finish()
		t.Fatal("the node client printed no SID")
	}
	id, _, err := ParseSID(sid)
	if err != nil {
		t.Fatal(err)
	}
	binary := func(c *websocket.Conn, msg string) {
		t.Helper()
		if err := c.WriteMessage(websocket.BinaryMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// Attackers: each binary message that is not UTF-8 closes its sender.
	for _, bad := range []string{
		"{\"cmd\":\"publish\",\"data\":{\"room\":\"lobby\",\"payload\":\"\xff\"}}",
		"{\"cmd\":\"publish\",\"data\":{\"room\":\"lobby\",\"notify_type\":\"ptp\",\"to\":\"" + sid + "\",\"payload\":{\"k\":\"\xc3\"}}}",
		"{\"cmd\":\"send\",\"data\":{\"to\":\"" + sid + "\",\"payload\":\"\xe2\x82\"}}",
		"{\"cmd\":\"join\",\"data\":{\"room\":\"lobby\",\"meta\":{\"nick\":\"\xed\xa0\x80\"}}}",
		"{\"cmd\":\"join\",\"data\":{\"room\":\"lobby\xff\"}}",
	} {
		a, _ := dialRouter(t, url)
		binary(a, bad)
		expectClose(t, a, 1007)
	}
	// A client that speaks binary UTF-8 JSON reaches the receiver.
	g, _ := dialRouter(t, url)
	for _, req := range []string{
		`{"cmd":"join","seqno":"1","data":{"room":"lobby","meta":{"nick":"bín"}}}`,
		`{"cmd":"publish","seqno":"2","data":{"room":"lobby","payload":"héllo"}}`,
		`{"cmd":"publish","seqno":"3","data":{"room":"lobby","notify_type":"ptp","to":"` + sid + `","payload":"ptp ü"}}`,
		`{"cmd":"send","seqno":"4","data":{"to":"` + sid + `","payload":"send ß"}}`,
		`{"cmd":"leave","seqno":"5","data":{"room":"lobby"}}`,
	} {
		binary(g, req)
		for {
			var m struct {
				Seqno  string `json:"seqno"`
				Status int    `json:"status"`
			}
			if err := json.Unmarshal([]byte(readText(t, g)), &m); err != nil {
				t.Fatal(err)
			}
			if m.Seqno != "" {
				if m.Status != 0 {
					t.Fatalf("%s: status %d", req, m.Status)
				}
				break
			}
		}
	}
	// The library refuses what is not UTF-8, and sanitizes Go strings.
	bad := RawJSON([]byte("{\"t\":\"\xff\"}"))
	for name, err := range map[string]error{
		"PublishMessage": srv.PublishMessage("lobby", "ops", bad),
		"Publish":        srv.Publish("lobby", "x", bad),
		"Push":           srv.Push(id, "x", bad),
		"Broadcast":      srv.Broadcast("x", bad),
		"SendMessage":    srv.SendMessage(sid, "ops", bad),
	} {
		if !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("%s: %v, want ErrInvalidUTF8", name, err)
		}
	}
	if err := srv.Publish("lobby", "note", map[string]string{"t": "a\xffb"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Broadcast("news", "x\xff"); err != nil {
		t.Fatal(err)
	}
	// (The HTTP API refuses such bodies with 400: httpapi's TestAPIErrors.)
	if err := srv.Broadcast("api", RawJSON([]byte(`{"v":"ok ✓"}`))); err != nil {
		t.Fatal(err)
	}
	if err := srv.Push(id, "done", nil); err != nil {
		t.Fatal(err)
	}
	finish()
}

func TestNodeClientEcho(t *testing.T) {
	rec := newCloseRecorder(EchoHandler{})
	_, url := startServer(t, Config{Limits: Limits{MaxMessageSize: 2 << 20}}, rec)
	nodeClient(t, "echo", url)
	if r := rec.next(t); r.Cause != CauseClient || r.Code != 1000 || r.Text != "bye" {
		t.Fatalf("close reason %+v, want the client's 1000 bye", r)
	}
}

func TestNodeClientJSON(t *testing.T) {
	_, url := startServer(t, Config{Limits: Limits{MaxMessageSize: 2 << 20}}, NewRouter())
	nodeClient(t, "json", url)
}

func TestNodeClientRooms(t *testing.T) {
	_, url := startServer(t, Config{}, NewRouter())
	nodeClient(t, "rooms", url)
}
