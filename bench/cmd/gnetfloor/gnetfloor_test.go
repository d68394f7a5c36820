package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the child server: with GNETFLOOR_SERVE=addr
// (and GNETFLOOR_LOOPS=n) in its environment, TestMain serves instead of
// running the tests.
const (
	serveEnv = "GNETFLOOR_SERVE"
	loopsEnv = "GNETFLOOR_LOOPS"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(serveEnv); addr != "" {
		loops, _ := strconv.Atoi(os.Getenv(loopsEnv))
		if err := serve(addr, loops); err != nil {
			fmt.Fprintln(os.Stderr, "gnetfloor test server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testCommand re-executes the test binary as the child server.
func testCommand(addr string, loops int) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locate test binary: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serveEnv+"="+addr, loopsEnv+"="+strconv.Itoa(loops))
	return cmd, nil
}

func TestMeasureSmoke(t *testing.T) {
	if err := raiseFileLimit(); err != nil {
		t.Fatal(err)
	}
	res, err := measure(config{conns: 200, settle: 200 * time.Millisecond, command: testCommand})
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	t.Log(res)
	if res.dialErr != nil {
		t.Errorf("dial error: %v", res.dialErr)
	}
	if res.held != 200 || res.asked != 200 {
		t.Errorf("held %d of %d connections, want 200 of 200", res.held, res.asked)
	}
	if res.before == 0 || res.after == 0 {
		t.Errorf("RSS before %d, after %d bytes: want both > 0", res.before, res.after)
	}
	if res.loops <= 0 {
		t.Errorf("loops = %d, want > 0", res.loops)
	}
	if line := res.String(); !strings.HasPrefix(line, "bare gnet v2.") || !strings.Contains(line, "200 connections held") {
		t.Errorf("unexpected report line %q", line)
	}
}

func TestSourceIP(t *testing.T) {
	for _, tc := range []struct {
		i    int
		want string
	}{
		{0, "127.0.0.1"},
		{connsPerSourceIP - 1, "127.0.0.1"},
		{connsPerSourceIP, "127.0.0.2"},
		{17999, "127.0.0.2"},
	} {
		if got := sourceIP(tc.i).String(); got != tc.want {
			t.Errorf("sourceIP(%d) = %s, want %s", tc.i, got, tc.want)
		}
	}
}
