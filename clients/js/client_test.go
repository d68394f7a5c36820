package jsclient

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeSuite runs the JavaScript client's own tests (node --test test/)
// against a real wsloop binary built from this tree: requests and replies,
// pushes, heartbeats (signed too), reconnection after a server restart,
// rooms re-joined, close codes. .ci/run installs Node and the tests'
// package (npm ci here); elsewhere a machine without them skips, CI fails.
func TestNodeSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs Node")
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", "ws"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or clients/js/node_modules missing (npm ci in clients/js): %v", err)
		}
		t.Skipf("node or clients/js/node_modules missing (npm ci in clients/js): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "wsloop")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/wsloop")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "test/")
	cmd.Env = append(os.Environ(), "WSLOOP_BIN="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}
