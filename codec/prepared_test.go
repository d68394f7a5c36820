package codec

import (
	"bytes"
	"sync"
	"testing"
)

func TestPreparedFrame(t *testing.T) {
	payload := []byte(`{"cmd":"message","data":{"room":"r1"}}`)
	f := NewPreparedFrame(OpText, payload)
	want := AppendFrame(nil, OpText, true, payload)
	if !bytes.Equal(f.Bytes(), want) {
		t.Fatalf("Bytes = % x; want % x", f.Bytes(), want)
	}
	payload[0] = 'X' // the frame holds its own copy
	if !bytes.Equal(f.Bytes(), want) {
		t.Fatal("PreparedFrame aliases the payload")
	}
	if b := f.Bytes(); cap(b) != len(b) {
		t.Fatalf("Bytes has spare capacity %d; appends would write into the shared frame", cap(b)-len(b))
	}

	const holders = 64
	var wg sync.WaitGroup
	for range holders {
		f.Retain()
		wg.Go(func() {
			if !bytes.Equal(f.Bytes(), want) {
				t.Error("Bytes changed while held")
			}
			f.Release()
		})
	}
	wg.Wait()
	if f.buf == nil {
		t.Fatal("buffer released while the creator still holds a reference")
	}
	f.Release()
	if f.buf != nil {
		t.Fatal("buffer not released after the last Release")
	}
	mustPanic(t, "over-release", f.Release)
	mustPanic(t, "Retain after release", f.Retain)
}

func TestPreparedFrameLarge(t *testing.T) {
	payload := bytes.Repeat([]byte{7}, 70000)
	f := NewPreparedFrame(OpBinary, payload)
	defer f.Release()
	if !bytes.Equal(f.Bytes(), AppendFrame(nil, OpBinary, true, payload)) {
		t.Fatal("large PreparedFrame differs from AppendFrame")
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

func TestCompiledFrames(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"FramePing", FramePing, []byte{0x89, 0x00}},
		{"FramePongEmpty", FramePongEmpty, []byte{0x8a, 0x00}},
		{"FrameCloseNormal", FrameCloseNormal, []byte{0x88, 0x02, 0x03, 0xe8}},
		{"FrameCloseGoingAway", FrameCloseGoingAway, []byte{0x88, 0x02, 0x03, 0xe9}},
		{"AppendPong", AppendPong([]byte{1}, []byte("hi")), []byte{1, 0x8a, 0x02, 'h', 'i'}},
	}
	for _, tc := range cases {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s = % x; want % x", tc.name, tc.got, tc.want)
		}
	}
	for _, f := range [][]byte{FramePing, FramePongEmpty, FrameCloseNormal, FrameCloseGoingAway} {
		if cap(f) != len(f) {
			t.Errorf("compiled frame % x has spare capacity", f)
		}
	}
}

func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		p := bytes.Repeat([]byte{'a'}, n)
		f := AppendFrame([]byte("pre"), OpBinary, n%2 == 0, p)
		if len(f) != 3+FrameSize(n) {
			t.Fatalf("%d: frame is %d bytes; FrameSize says %d", n, len(f)-3, FrameSize(n))
		}
		var h Header
		hn, err := h.Decode(f[3:])
		want := Header{Fin: n%2 == 0, OpCode: OpBinary, Length: int64(n)}
		if err != nil || h != want || !bytes.Equal(f[3+hn:], p) {
			t.Fatalf("%d: decoded %+v, %v; want %+v", n, h, err, want)
		}
	}
}
