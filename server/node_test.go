package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeClient runs test/node/client.mjs (Node's ws package) against url.
// .ci/run installs Node and the package; outside CI a machine without them
// skips, in CI it fails.
func nodeClient(t *testing.T, mode, url string) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", mode, url)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("node client (%s):\n%s", mode, out)
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("node client failed: %v", err)
	}
}

func TestNodeClientEcho(t *testing.T) {
	rec := newCloseRecorder(EchoHandler{})
	_, url := startServer(t, Config{MaxMessageSize: 2 << 20}, rec)
	nodeClient(t, "echo", url)
	if r := rec.next(t); r.Cause != CauseClient || r.Code != 1000 || r.Text != "bye" {
		t.Fatalf("close reason %+v, want the client's 1000 bye", r)
	}
}

func TestNodeClientJSON(t *testing.T) {
	_, url := startServer(t, Config{MaxMessageSize: 2 << 20}, NewRouter())
	nodeClient(t, "json", url)
}

func TestNodeClientRooms(t *testing.T) {
	_, url := startServer(t, Config{}, NewRouter())
	nodeClient(t, "rooms", url)
}
