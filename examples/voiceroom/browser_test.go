package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsloop/wsloop/internal/wstest"
)

// chromium returns Debian's chromium (which .ci/run installs); elsewhere a
// machine without it skips, CI fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: apt-get install chromium")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// TestBrowser: two pages in headless Chromium log in as two users and
// enter one room: A takes seat 1 and B's page shows it; A sends B a
// private gift and only B's page shows it; A's topic message shows on both;
// A's page is closed and B's page shows A leaving seat 1. B's page is
// saved as a screenshot (the test's artifact directory; go test
// -artifacts keeps it).
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	v, err := start(config{Addr: "127.0.0.1:0", WebAddr: "127.0.0.1:0", Logger: wstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = v.shutdown(ctx)
	})
	page := "http://" + v.webLn.Addr().String() + "/"

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1200, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts Chromium
		t.Fatalf("start chromium: %v", err)
	}
	tabA, closeA := chromedp.NewContext(browser)
	defer closeA()
	tabB, closeB := chromedp.NewContext(browser)
	defer closeB()

	run := func(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			shot, _ := chromedp.Run(tab, chromedp.FullScreenshot(100))
			if len(shot) > 0 {
				p := filepath.Join(t.ArtifactDir(), "failure.png")
				_ = os.WriteFile(p, shot, 0o644)
				t.Logf("screenshot of the failing page: %s", p)
			}
			t.Fatalf("%s: %v", what, err)
		}
	}
	// until waits (bounded by ctx) until a JavaScript condition holds.
	until := func(cond string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
	}
	eval := func(tab context.Context, what, expr string) any {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	enter := func(name string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(page),
			chromedp.WaitVisible(chromedp.CSS(`#login-name`)),
			chromedp.SendKeys(chromedp.CSS(`#login-name`), name),
			chromedp.Click(chromedp.CSS(`#login-btn`)),
			chromedp.WaitVisible(chromedp.CSS(`#room`)),
		}
	}
	run(tabA, "A logs in and enters", enter("Alice")...)
	run(tabB, "B logs in and enters", enter("Bob")...)
	run(tabA, "A sees B", until(`[...document.querySelectorAll('#members li')].some(li => li.textContent.startsWith('Bob'))`))
	// Chromium offers permessage-deflate; the example accepts it.
	if n := v.srv.Stats().DeflateConns; n < 2 {
		t.Fatalf("%d connections negotiated compression, want both pages'", n)
	}

	// A takes seat 1; B's page shows it.
	run(tabA, "A takes seat 1", chromedp.Click(chromedp.CSS(`#seats li[data-seat="1"]`)))
	run(tabB, "B sees A on seat 1", until(`(() => { const s = document.querySelector('#seats li[data-seat="1"]');
		return s.classList.contains('taken') && s.querySelector('.name').textContent === 'Alice'; })()`))

	// A sends B a private gift: only B's page shows it.
	chosen := eval(tabA, "A picks B", `(() => { const s = document.querySelector('#gift-to');
		for (const o of s.options) if (o.textContent === 'Bob') s.value = o.value; return s.value; })()`)
	if chosen == "" {
		t.Fatal("Bob is not in A's gift list")
	}
	run(tabA, "A sends B a private gift",
		chromedp.Click(chromedp.CSS(`#gift-private`)),
		chromedp.Click(chromedp.CSS(`#gift-send`)),
		until(`[...document.querySelectorAll('#event-log li')].some(li => li.textContent.includes('privately'))`))
	run(tabB, "B sees the private gift", until(`[...document.querySelectorAll('#gift-log li')].some(li =>
		li.textContent.includes('Alice sent 1') && li.textContent.includes('to you') && li.textContent.includes('privately'))`))

	// A's topic message shows on both pages.
	run(tabA, "A sends a topic message",
		chromedp.SendKeys(chromedp.CSS(`#chat-input`), "hello from A"),
		chromedp.Click(chromedp.CSS(`#chat-send`)))
	for name, tab := range map[string]context.Context{"A": tabA, "B": tabB} {
		run(tab, name+" sees the message", until(`[...document.querySelectorAll('#chat-log li')].some(li => li.textContent === 'Alice: hello from A')`))
	}
	// The topic message left after the gift on A's connection too: had the
	// gift gone to A, A's page would show it by now.
	if n := eval(tabA, "A's gift log", `document.querySelectorAll('#gift-log li').length`); n != 0.0 {
		t.Fatalf("A's page shows %v gifts; a private gift is for B alone", n)
	}

	shot, err := chromedp.Run(tabB, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "voiceroom-b-with-a.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}

	// A's page goes away: B sees A leave seat 1.
	closeA()
	run(tabB, "B sees A leave seat 1", until(`(() => { const s = document.querySelector('#seats li[data-seat="1"]');
		return s.classList.contains('free') && [...document.querySelectorAll('#event-log li')].some(li => li.textContent.includes('Alice left (seat 1 is free)'));
	})()`))

	shot, err = chromedp.Run(tabB, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.ArtifactDir(), "voiceroom-b.png")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("B's page: %s (%d bytes)", p, len(shot))
}
