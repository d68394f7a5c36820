package server

import (
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
