package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestMain(m *testing.M) {
	if lim := os.Getenv("WSLOOP_FDLIMIT_CHILD"); lim != "" {
		fdLimitChild(lim, os.Getenv("WSLOOP_FDLIMIT_MAXCONNS"))
		return
	}
	os.Exit(m.Run())
}

// fdLimitChild runs an echo server under a lowered RLIMIT_NOFILE until its
// stdin closes. It is the subprocess of TestDescriptorExhaustion.
func fdLimitChild(limit, maxConns string) {
	lim, _ := strconv.ParseUint(limit, 10, 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		fmt.Println("setrlimit:", err)
		os.Exit(3)
	}
	mc, _ := strconv.Atoi(maxConns)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := New(Config{Addr: "127.0.0.1:0", Logger: log, Tuning: Tuning{Loops: 2, MaxConns: mc}}, EchoHandler{})
	if err == nil {
		err = srv.Listen()
	}
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(3)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	fmt.Printf("ADDR %s MAXCONNS %d\n", srv.Addr(), srv.Config().Tuning.MaxConns)
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	fmt.Println("served:", <-served)
	os.Exit(0)
}

// TestDescriptorExhaustion: with more clients than descriptors (EMFILE) or
// than max_conns, the extra ones are refused, every held connection keeps
// working, and the server neither exits nor stops accepting once
// descriptors are free again.
func TestDescriptorExhaustion(t *testing.T) {
	cases := []struct {
		name     string
		limit    int
		maxConns int // 0: the default, RLIMIT_NOFILE minus headroom
		dials    int
	}{
		{name: "EMFILE", limit: 64, maxConns: 100000, dials: 120},
		{name: "default max_conns", limit: 160, dials: 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "WSLOOP_FDLIMIT_CHILD="+strconv.Itoa(tc.limit), "WSLOOP_FDLIMIT_MAXCONNS="+strconv.Itoa(tc.maxConns))
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			out := bufio.NewScanner(stdout)
			if !out.Scan() {
				t.Fatalf("child printed nothing; stderr: %s", stderr.String())
			}
			var addr string
			var maxConns int
			if _, err := fmt.Sscanf(out.Text(), "ADDR %s MAXCONNS %d", &addr, &maxConns); err != nil {
				t.Fatalf("child said %q: %v", out.Text(), err)
			}
			go func() {
				for out.Scan() {
					t.Logf("child: %s", out.Text())
				}
				exited <- cmd.Wait()
			}()
			url := "ws://" + addr + "/ws"
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}

			var mu sync.Mutex
			var held []*websocket.Conn
			refused := 0
			var wg sync.WaitGroup
			for i := 0; i < tc.dials; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, _, err := d.Dial(url, nil)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						refused++
						return
					}
					held = append(held, c)
				}()
			}
			wg.Wait()
			t.Logf("limit %d, max_conns %d: %d held, %d refused", tc.limit, maxConns, len(held), refused)
			if refused == 0 {
				t.Fatalf("all %d dials succeeded under a limit of %d descriptors", tc.dials, tc.limit)
			}
			if len(held) < tc.limit/3 || (tc.maxConns == 0 && len(held) != maxConns) {
				t.Fatalf("only %d connections held (max_conns %d)", len(held), maxConns)
			}
			echoAll := func(conns []*websocket.Conn) {
				t.Helper()
				for i, c := range conns {
					msg := []byte("still alive " + strconv.Itoa(i))
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
						t.Fatalf("held connection %d: write: %v", i, err)
					}
					if _, p, err := c.ReadMessage(); err != nil || string(p) != string(msg) {
						t.Fatalf("held connection %d: echo %q, %v", i, p, err)
					}
				}
			}
			echoAll(held)
			select {
			case err := <-exited:
				t.Fatalf("server exited: %v; stderr: %s", err, stderr.String())
			default:
			}
			// Free some descriptors: new clients get in again.
			for _, c := range held[:10] {
				c.Close()
			}
			// The server frees them once its loops have seen the closes; on
			// a loaded machine that takes a moment, so a refusal is retried
			// for a while.
			var again []*websocket.Conn
			deadline := time.Now().Add(10 * time.Second)
			for len(again) < 5 {
				c, resp, err := d.Dial(url, nil)
				if err == nil {
					again = append(again, c)
					continue
				}
				if time.Now().After(deadline) {
					status := ""
					if resp != nil {
						status = resp.Status
					}
					t.Fatalf("dial after freeing descriptors: %v %s; stderr: %s", err, status, stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			echoAll(again)
			echoAll(held[10:])
			for _, c := range append(held[10:], again...) {
				c.Close()
			}
			stdin.Close()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("child: %v; stderr: %s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("child did not shut down")
			}
		})
	}
}
