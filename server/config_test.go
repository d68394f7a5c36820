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
		{name: "1ms tick, 20s heartbeat", cfg: Config{Heartbeat: Heartbeat{Tick: time.Millisecond}}},
		{name: "1s tick, 10h heartbeat", cfg: Config{Heartbeat: Heartbeat{Timeout: 10 * time.Hour}}},
		{name: "1ms tick, 10h heartbeat", cfg: Config{Heartbeat: Heartbeat{Tick: time.Millisecond, Timeout: 10 * time.Hour}}, wantErr: true},
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
			longest := max(n.Limits.HandshakeTimeout, n.Limits.CloseTimeout, n.Heartbeat.Timeout)
			if l.wheel.MaxDelay() < longest+2*n.Heartbeat.Tick {
				t.Fatalf("wheel covers %v, longest timeout %v", l.wheel.MaxDelay(), longest)
			}
		})
	}
}

// TestConfigDefaultsAndNegatives: zero fields get their defaults, and a
// negative one is refused with an error that names it.
func TestConfigDefaultsAndNegatives(t *testing.T) {
	n, err := Config{Rooms: Rooms{PublishRate: 10}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if n.Limits.MaxMessageSize != DefaultMaxMessageSize || n.Limits.HandshakeTimeout != DefaultHandshakeTimeout ||
		n.Tuning.QueueSize != DefaultQueueSize || n.Tuning.ReadBufferSize != DefaultReadBufferSize ||
		n.Rooms.PublishBurst != 20 || n.Heartbeat.ServerPingInterval != 0 ||
		n.Heartbeat.Tick != DefaultTick || n.Tuning.MaxConns <= 0 {
		t.Fatalf("defaults not filled in: %+v", n)
	}
	if n, _ := (Config{Heartbeat: Heartbeat{Timeout: 5 * time.Second}}).normalize(); n.Heartbeat.Tick != 625*time.Millisecond {
		t.Fatalf("Tick for a 5s heartbeat timeout: %v, want 625ms", n.Heartbeat.Tick)
	}
	for name, cfg := range map[string]Config{
		"Tuning.MaxConns":              {Tuning: Tuning{MaxConns: -1}},
		"Limits.MaxMessageSize":        {Limits: Limits{MaxMessageSize: -1}},
		"Limits.HandshakeTimeout":      {Limits: Limits{HandshakeTimeout: -time.Second}},
		"Limits.CloseTimeout":          {Limits: Limits{CloseTimeout: -time.Second}},
		"Heartbeat.PingInterval":       {Heartbeat: Heartbeat{PingInterval: -time.Second}},
		"Heartbeat.Tick":               {Heartbeat: Heartbeat{Tick: -time.Millisecond}},
		"Tuning.QueueSize":             {Tuning: Tuning{QueueSize: -1}},
		"Tuning.MaxOutboundBytes":      {Tuning: Tuning{MaxOutboundBytes: -1}},
		"Rooms.PublishBurst":           {Rooms: Rooms{PublishBurst: -1}},
		"Rooms.MaxPerConn":             {Rooms: Rooms{MaxPerConn: -1}},
		"Rooms.MaxNameSize":            {Rooms: Rooms{MaxNameSize: -1}},
		"Rooms.MaxMetaSize":            {Rooms: Rooms{MaxMetaSize: -1}},
		"Tuning.ReadBufferSize":        {Tuning: Tuning{ReadBufferSize: -1}},
		"Heartbeat.ServerPingInterval": {Heartbeat: Heartbeat{ServerPingInterval: -time.Second}},
		"Heartbeat.SignWindow":         {Heartbeat: Heartbeat{SignWindow: -time.Second}},
		"Heartbeat.MaxMissedPongs":     {Heartbeat: Heartbeat{MaxMissedPongs: -1}},
	} {
		if _, err := cfg.normalize(); err == nil || !strings.Contains(err.Error(), name+" ") {
			t.Errorf("%s negative: error %v, want one naming it", name, err)
		}
	}
	// Negative means "off" for these.
	if _, err := (Config{Heartbeat: Heartbeat{Timeout: -1}, Rooms: Rooms{PublishRate: -1, EventsMaxMembers: -1}}).normalize(); err != nil {
		t.Fatalf("negative off-values refused: %v", err)
	}
}
