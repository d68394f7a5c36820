package main

import (
	"testing"
	"time"

	"github.com/wsloop/wsloop/bench/internal/peertest"
)

func TestProtocol(t *testing.T) {
	peertest.Protocol(t, peertest.Start(t, serve, peertest.Config(0, false)))
}

func TestRawEcho(t *testing.T) {
	peertest.Raw(t, peertest.Start(t, serve, peertest.Config(0, true)))
}

func TestHeartbeatTimeout(t *testing.T) {
	d := 300 * time.Millisecond
	peertest.Heartbeat(t, peertest.Start(t, serve, peertest.Config(d, false)), d)
}
