package server

import (
	"strings"
	"testing"
	"time"
)

// TestConfigWheelSizing: the timing wheel always covers the longest timeout,
// and timeouts it cannot cover are refused at New, not silently never armed.
func TestConfigWheelSizing(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults", cfg: Config{}},
		{name: "1ms tick, 20s heartbeat", cfg: Config{Tick: time.Millisecond}},
		{name: "1s tick, 10h heartbeat", cfg: Config{HeartbeatTimeout: 10 * time.Hour}},
		{name: "1ms tick, 10h heartbeat", cfg: Config{Tick: time.Millisecond, HeartbeatTimeout: 10 * time.Hour}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := c.cfg.normalize()
			if (err != nil) != c.wantErr {
				t.Fatalf("normalize: %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			srv, err := New(c.cfg, BuiltinHandler{})
			if err != nil {
				t.Fatal(err)
			}
			l := newLoop(srv, 0, nil)
			longest := max(n.HandshakeTimeout, n.CloseTimeout, n.HeartbeatTimeout)
			if l.wheel.MaxDelay() < longest+2*n.Tick {
				t.Fatalf("wheel covers %v, longest timeout %v", l.wheel.MaxDelay(), longest)
			}
		})
	}
}

// TestConfigDefaultsAndNegatives: zero fields get their defaults, and a
// negative one is refused with an error that names it.
func TestConfigDefaultsAndNegatives(t *testing.T) {
	n, err := Config{PublishRate: 10}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if n.MaxMessageSize != DefaultMaxMessageSize || n.HandshakeTimeout != DefaultHandshakeTimeout ||
		n.QueueSize != DefaultQueueSize || n.ReadBufferSize != DefaultReadBufferSize ||
		n.PublishBurst != 20 || n.ServerPingInterval != 0 ||
		n.Tick != DefaultTick || n.MaxConns <= 0 {
		t.Fatalf("defaults not filled in: %+v", n)
	}
	if n, _ := (Config{HeartbeatTimeout: 5 * time.Second}).normalize(); n.Tick != 625*time.Millisecond {
		t.Fatalf("Tick for a 5s heartbeat timeout: %v, want 625ms", n.Tick)
	}
	for name, cfg := range map[string]Config{
		"MaxConns":            {MaxConns: -1},
		"MaxMessageSize":      {MaxMessageSize: -1},
		"HandshakeTimeout":    {HandshakeTimeout: -time.Second},
		"CloseTimeout":        {CloseTimeout: -time.Second},
		"PingInterval":        {PingInterval: -time.Second},
		"Tick":                {Tick: -time.Millisecond},
		"QueueSize":           {QueueSize: -1},
		"MaxOutboundBytes":    {MaxOutboundBytes: -1},
		"PublishBurst":        {PublishBurst: -1},
		"MaxRoomsPerConn":     {MaxRoomsPerConn: -1},
		"MaxRoomNameSize":     {MaxRoomNameSize: -1},
		"MaxMetaSize":         {MaxMetaSize: -1},
		"ReadBufferSize":      {ReadBufferSize: -1},
		"ServerPingInterval":  {ServerPingInterval: -time.Second},
		"HeartbeatSignWindow": {HeartbeatSignWindow: -time.Second},
		"MaxMissedPongs":      {MaxMissedPongs: -1},
	} {
		if _, err := cfg.normalize(); err == nil || !strings.Contains(err.Error(), name+" ") {
			t.Errorf("%s negative: error %v, want one naming it", name, err)
		}
	}
	// Negative means "off" for these.
	if _, err := (Config{HeartbeatTimeout: -1, PublishRate: -1, RoomEventsMaxMembers: -1}).normalize(); err != nil {
		t.Fatalf("negative off-values refused: %v", err)
	}
}
