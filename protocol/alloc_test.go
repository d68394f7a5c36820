//go:build !race

package protocol

import "testing"

// The envelope and the encoders are on the hot path (docs/architecture.md,
// "Hot paths"): none of these may allocate. The race detector allocates,
// hence the build tag.
func TestEnvelope_ZeroAllocs(t *testing.T) {
	var (
		e      Envelope
		reply  = make([]byte, 0, 512)
		push   = make([]byte, 0, 512)
		escKey = []byte(`{"\u0063md":"x","\u0064ata":1}`)
		deep   = []byte(`{"cmd":"x","data":` + nestedArrays(63) + `}`)
	)
	data := []byte(`{"room":"r1","members":["a","b"]}`)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Envelope.Decode", func() {
			if err := e.Decode(benchEnvelopeMsg); err != nil {
				t.Fatal(err)
			}
		}},
		{"Envelope.Decode escaped keys", func() {
			if err := e.Decode(escKey); err != nil {
				t.Fatal(err)
			}
		}},
		{"Envelope.Decode depth 64", func() {
			if err := e.Decode(deep); err != nil {
				t.Fatal(err)
			}
		}},
		{"CheckJSON", func() {
			if err := CheckJSON(data); err != nil {
				t.Fatal(err)
			}
		}},
		{"AppendReply", func() { reply = AppendReply(reply[:0], e.Cmd, e.Seqno, 0, "ok", data) }},
		{"AppendReply escaping", func() { reply = AppendReply(reply[:0], []byte("a\"\xff"), nil, 500, "bad \"x\"\n\x01", nil) }},
		{"AppendPush", func() { push = AppendPush(push[:0], "enter_room", data) }},
		{"AppendMessage", func() { push = AppendMessage(push[:0], "room", "user", []byte(`"payload"`)) }},
		{"AppendEnter", func() { push = AppendEnter(push[:0], "room", "user", data) }},
		{"AppendExit", func() { push = AppendExit(push[:0], "room", "user", ReasonKick) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
}
