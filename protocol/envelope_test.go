package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bytedance/sonic"
)

type envelopeCase struct {
	name string
	in   string
	err  error
	// Expected fields; "" means nil (a present seqno or data is never empty).
	cmd, seqno, data string
}

// nestedArrays returns depth arrays nested around "1".
func nestedArrays(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

var envelopeCases = []envelopeCase{
	// Accepted.
	{name: "request", in: `{"cmd":"join","seqno":"42","data":{"room":"r1"}}`, cmd: "join", seqno: `"42"`, data: `{"room":"r1"}`},
	{name: "data first", in: `{"data":{"room":"r1"},"seqno":"42","cmd":"join"}`, cmd: "join", seqno: `"42"`, data: `{"room":"r1"}`},
	{name: "seqno first", in: `{"seqno":"1","cmd":"leave","data":{}}`, cmd: "leave", seqno: `"1"`, data: `{}`},
	{name: "whitespace", in: " \r\n\t{ \"cmd\" : \"a\" ,\r\n \"seqno\"\t:\t7 , \"data\" : [ 1 , { } , [ ] ] }\n ",
		cmd: "a", seqno: "7", data: "[ 1 , { } , [ ] ]"},
	{name: "nested data", in: `{"cmd":"x","data":{"a":[1,{"b":[true,false,null]}],"c":-1.5e+10,"d":{"e":{"f":"g"}}}}`,
		cmd: "x", data: `{"a":[1,{"b":[true,false,null]}],"c":-1.5e+10,"d":{"e":{"f":"g"}}}`},
	{name: "numeric seqno", in: `{"cmd":"ping","seqno":7}`, cmd: "ping", seqno: "7"},
	{name: "negative float seqno", in: `{"cmd":"ping","seqno":-0.5E-3}`, cmd: "ping", seqno: "-0.5E-3"},
	{name: "zero seqno", in: `{"cmd":"ping","seqno":0}`, cmd: "ping", seqno: "0"},
	{name: "empty string seqno", in: `{"cmd":"ping","seqno":""}`, cmd: "ping", seqno: `""`},
	{name: "escaped seqno", in: `{"cmd":"ping","seqno":"a\"b\u00e9"}`, cmd: "ping", seqno: `"a\"b\u00e9"`},
	{name: "cmd only", in: `{"cmd":"members"}`, cmd: "members"},
	{name: "escapes inside data", in: `{"cmd":"x","data":"a\"b\\c\/\u00e9\uD83D\uDE00\b\f\n\r\t"}`,
		cmd: "x", data: `"a\"b\\c\/\u00e9\uD83D\uDE00\b\f\n\r\t"`},
	{name: "escaped keys in data", in: `{"cmd":"x","data":{"\"k\\":"v","\u0063md":1}}`, cmd: "x", data: `{"\"k\\":"v","\u0063md":1}`},
	{name: "data null", in: `{"cmd":"x","data":null}`, cmd: "x", data: "null"},
	{name: "data scalar", in: `{"cmd":"x","data":12.5e1}`, cmd: "x", data: "12.5e1"},
	{name: "non-ASCII cmd", in: `{"cmd":"加入","seqno":"1"}`, cmd: "加入", seqno: `"1"`},
	{name: "unknown keys skipped", in: `{"v":2,"cmd":"x","extra":{"cmd":"y","seqno":[1,2]},"n":null,"t":true,"f":false,"s":"\u0041"}`, cmd: "x"},
	{name: "unknown key repeated", in: `{"cmd":"x","v":1,"v":2}`, cmd: "x"},
	{name: "keys are case-sensitive", in: `{"cmd":"x","CMD":"y","Data":1}`, cmd: "x"},
	{name: "escaped key is data", in: `{"cmd":"x","\u0064ata":[1]}`, cmd: "x", data: "[1]"},
	{name: "escaped key is cmd", in: `{"\u0063\u006D\u0064":"x"}`, cmd: "x"},
	{name: "escaped key is not data", in: `{"cmd":"x","\u0064ata2":[1],"dat\u00e1":2,"d\"":3,"\u0164ata":4}`, cmd: "x"},
	{name: "invalid UTF-8 in data", in: "{\"cmd\":\"x\",\"data\":\"\xff\"}", cmd: "x", data: "\"\xff\""},
	{name: "DEL in a string", in: "{\"cmd\":\"x\x7f\"}", cmd: "x\x7f"},
	{name: "depth 64", in: `{"cmd":"x","data":` + nestedArrays(63) + `}`, cmd: "x", data: nestedArrays(63)},

	// Not one valid JSON object.
	{name: "empty", in: "", err: ErrBadJSON},
	{name: "blank", in: " \n", err: ErrBadJSON},
	{name: "array", in: `[{"cmd":"x"}]`, err: ErrBadJSON},
	{name: "string", in: `"cmd"`, err: ErrBadJSON},
	{name: "number", in: `1`, err: ErrBadJSON},
	{name: "null", in: `null`, err: ErrBadJSON},
	{name: "truncated", in: `{"cmd":"x"`, err: ErrBadJSON},
	{name: "truncated after comma", in: `{"cmd":"x",`, err: ErrBadJSON},
	{name: "truncated in key", in: `{"cmd":"x","da`, err: ErrBadJSON},
	{name: "truncated after colon", in: `{"cmd":"x","data":`, err: ErrBadJSON},
	{name: "truncated data", in: `{"cmd":"x","data":{"a":1}`, err: ErrBadJSON},
	{name: "truncated string", in: `{"cmd":"x","data":"abc`, err: ErrBadJSON},
	{name: "truncated escape", in: `{"cmd":"x","data":"abc\`, err: ErrBadJSON},
	{name: "truncated literal", in: `{"cmd":"x","data":tru`, err: ErrBadJSON},
	{name: "truncated number", in: `{"cmd":"x","data":1.`, err: ErrBadJSON},
	{name: "trailing garbage", in: `{"cmd":"x"} x`, err: ErrBadJSON},
	{name: "two objects", in: `{"cmd":"x"}{}`, err: ErrBadJSON},
	{name: "trailing comma outside", in: `{"cmd":"x"},`, err: ErrBadJSON},
	{name: "trailing NUL", in: "{\"cmd\":\"x\"}\x00", err: ErrBadJSON},
	{name: "trailing comma", in: `{"cmd":"x",}`, err: ErrBadJSON},
	{name: "trailing comma in array", in: `{"cmd":"x","data":[1,]}`, err: ErrBadJSON},
	{name: "trailing comma in object", in: `{"cmd":"x","data":{"a":1,}}`, err: ErrBadJSON},
	{name: "empty member", in: `{,"cmd":"x"}`, err: ErrBadJSON},
	{name: "missing comma", in: `{"cmd":"x" "data":1}`, err: ErrBadJSON},
	{name: "missing colon", in: `{"cmd" "x"}`, err: ErrBadJSON},
	{name: "missing value", in: `{"cmd":}`, err: ErrBadJSON},
	{name: "unquoted key", in: `{cmd:"x"}`, err: ErrBadJSON},
	{name: "single quotes", in: `{'cmd':'x'}`, err: ErrBadJSON},
	{name: "mismatched brackets", in: `{"cmd":"x","data":[1}}`, err: ErrBadJSON},
	{name: "mismatched braces", in: `{"cmd":"x","data":{"a":1]}`, err: ErrBadJSON},
	{name: "array as object", in: `{"cmd":"x","data":["a":1]}`, err: ErrBadJSON},
	{name: "bad literal nul", in: `{"cmd":"x","data":nul}`, err: ErrBadJSON},
	{name: "bad literal True", in: `{"cmd":"x","data":True}`, err: ErrBadJSON},
	{name: "bad literal nulll", in: `{"cmd":"x","data":nulll}`, err: ErrBadJSON},
	{name: "bad literal fals", in: `{"cmd":"x","data":[fals]}`, err: ErrBadJSON},
	{name: "bad literal nuLL", in: `{"cmd":"x","data":nuLL}`, err: ErrBadJSON},
	{name: "bad literal fAlse", in: `{"cmd":"x","data":[fAlse]}`, err: ErrBadJSON},
	{name: "bad literal trUe", in: `{"cmd":"x","data":{"a":trUe}}`, err: ErrBadJSON},
	{name: "NaN", in: `{"cmd":"x","data":NaN}`, err: ErrBadJSON},
	{name: "leading zero", in: `{"cmd":"x","data":01}`, err: ErrBadJSON},
	{name: "bare minus", in: `{"cmd":"x","data":-}`, err: ErrBadJSON},
	{name: "plus sign", in: `{"cmd":"x","data":+1}`, err: ErrBadJSON},
	{name: "leading dot", in: `{"cmd":"x","data":.5}`, err: ErrBadJSON},
	{name: "trailing dot", in: `{"cmd":"x","data":1.e5}`, err: ErrBadJSON},
	{name: "empty exponent", in: `{"cmd":"x","data":1e+}`, err: ErrBadJSON},
	{name: "hex number", in: `{"cmd":"x","data":0x10}`, err: ErrBadJSON},
	{name: "control char in string", in: "{\"cmd\":\"x\",\"data\":\"a\nb\"}", err: ErrBadJSON},
	{name: "control char in key", in: "{\"cmd\":\"x\",\"a\tb\":1}", err: ErrBadJSON},
	{name: "bad escape", in: `{"cmd":"x","data":"\x41"}`, err: ErrBadJSON},
	{name: "short unicode escape", in: `{"cmd":"x","data":"\u12"}`, err: ErrBadJSON},
	{name: "bad unicode escape", in: `{"cmd":"x","data":"\u12G4"}`, err: ErrBadJSON},
	{name: "bad escape in key", in: `{"cmd":"x","\q":1}`, err: ErrBadJSON},
	{name: "comment", in: `{"cmd":"x" /* c */}`, err: ErrBadJSON},
	{name: "too deep", in: `{"cmd":"x","seqno":"7","data":` + nestedArrays(64) + `}`, err: ErrJSONTooDeep, cmd: "x", seqno: `"7"`},
	{name: "too deep in skipped key", in: `{"cmd":"x","other":{"a":` + nestedArrays(63) + `}}`, err: ErrJSONTooDeep, cmd: "x"},
	{name: "too deep and truncated", in: `{"cmd":"x","data":` + strings.Repeat("[", 100), err: ErrJSONTooDeep, cmd: "x"},
	{name: "too deep before cmd", in: `{"seqno":3,"data":` + nestedArrays(64) + `,"cmd":"x"}`, err: ErrJSONTooDeep, seqno: "3"},
	{name: "too deep objects", in: `{"cmd":"x","seqno":1,"data":` + strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64) + `}`, err: ErrJSONTooDeep, cmd: "x", seqno: "1"},
	{name: "bad JSON wins over bad cmd", in: `{"cmd":1,"data":}`, err: ErrBadJSON},

	// Valid JSON, not a valid envelope.
	{name: "empty object", in: `{}`, err: ErrMissingCmd},
	{name: "no cmd", in: `{"seqno":"1","data":{}}`, err: ErrMissingCmd, seqno: `"1"`, data: "{}"},
	{name: "empty cmd", in: `{"cmd":"","seqno":3}`, err: ErrMissingCmd, seqno: "3"},
	{name: "escaped cmd", in: `{"cmd":"jo\u0069n","seqno":"5"}`, err: ErrBadCmd, seqno: `"5"`},
	{name: "escaped newline in cmd", in: `{"cmd":"a\nb"}`, err: ErrBadCmd},
	{name: "numeric cmd", in: `{"cmd":1}`, err: ErrBadCmd},
	{name: "null cmd", in: `{"cmd":null}`, err: ErrBadCmd},
	{name: "object cmd", in: `{"cmd":{"a":"b"}}`, err: ErrBadCmd},
	{name: "invalid UTF-8 cmd", in: "{\"cmd\":\"\xff\"}", err: ErrBadCmd},
	{name: "object seqno", in: `{"cmd":"x","seqno":{}}`, err: ErrBadSeqno, cmd: "x"},
	{name: "null seqno", in: `{"cmd":"x","seqno":null}`, err: ErrBadSeqno, cmd: "x"},
	{name: "bool seqno", in: `{"cmd":"x","seqno":true}`, err: ErrBadSeqno, cmd: "x"},
	{name: "array seqno", in: `{"cmd":"x","seqno":[1]}`, err: ErrBadSeqno, cmd: "x"},
	{name: "invalid UTF-8 seqno", in: "{\"cmd\":\"x\",\"seqno\":\"\xc3\"}", err: ErrBadSeqno, cmd: "x"},
	{name: "duplicate cmd", in: `{"cmd":"a","cmd":"b"}`, err: ErrDuplicateKey, cmd: "a"},
	{name: "duplicate data", in: `{"cmd":"a","data":1,"data":2}`, err: ErrDuplicateKey, cmd: "a", data: "1"},
	{name: "duplicate seqno", in: `{"seqno":1,"cmd":"a","seqno":2}`, err: ErrDuplicateKey, cmd: "a", seqno: "1"},
	{name: "duplicate escaped cmd", in: `{"cmd":"a","\u0063md":"b"}`, err: ErrDuplicateKey, cmd: "a"},
	{name: "first error wins", in: `{"seqno":null,"cmd":1}`, err: ErrBadSeqno},
	{name: "bad cmd before missing", in: `{"cmd":true,"seqno":"9"}`, err: ErrBadCmd, seqno: `"9"`},
}

// nilOrString renders b for comparing with an expected field: "" for nil.
func nilOrString(t *testing.T, field string, b []byte) string {
	t.Helper()
	if b != nil && len(b) == 0 && field != "Cmd" {
		t.Errorf("%s is empty but not nil", field)
	}
	return string(b)
}

func TestEnvelope_Decode(t *testing.T) {
	for _, tc := range envelopeCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			e := Envelope{Cmd: []byte("stale"), Seqno: []byte("1"), Data: []byte("2")}
			err := e.Decode(in)
			if err != tc.err {
				t.Fatalf("Decode(%q) = %v, want %v", tc.in, err, tc.err)
			}
			if got := nilOrString(t, "Cmd", e.Cmd); got != tc.cmd {
				t.Errorf("Cmd = %q, want %q", got, tc.cmd)
			}
			if got := nilOrString(t, "Seqno", e.Seqno); got != tc.seqno {
				t.Errorf("Seqno = %q, want %q", got, tc.seqno)
			}
			if got := nilOrString(t, "Data", e.Data); got != tc.data {
				t.Errorf("Data = %q, want %q", got, tc.data)
			}
			// The fields alias the input.
			for i := range in {
				in[i] = '#'
			}
			for _, f := range [][]byte{e.Cmd, e.Seqno, e.Data} {
				if len(bytes.Trim(f, "#")) != 0 {
					t.Errorf("field %q does not alias the input", f)
				}
			}
		})
	}
}

// TestEnvelope_AgreesWithEncodingJSON checks every table input against
// encoding/json: a syntax error exactly when it says the input is invalid
// (but for nesting, which Decode bounds), and the same fields when accepted.
func TestEnvelope_AgreesWithEncodingJSON(t *testing.T) {
	for _, tc := range envelopeCases {
		checkEnvelopeAgainstJSON(t, []byte(tc.in))
	}
}

func checkEnvelopeAgainstJSON(t *testing.T, p []byte) {
	t.Helper()
	var e Envelope
	err := e.Decode(p)
	valid := json.Valid(p)
	isObject := len(bytes.TrimLeft(p, " \t\r\n")) > 0 && bytes.TrimLeft(p, " \t\r\n")[0] == '{'
	switch {
	case err == nil && !valid:
		t.Fatalf("Decode accepted %q, which encoding/json says is invalid", p)
	case err != ErrBadJSON && err != ErrJSONTooDeep && !valid:
		t.Fatalf("Decode(%q) = %v, want ErrBadJSON: encoding/json says it is invalid", p, err)
	case err == ErrBadJSON && valid && isObject:
		t.Fatalf("Decode(%q) = ErrBadJSON, but encoding/json says it is a valid object", p)
	case err != nil:
		return
	}
	var m map[string]json.RawMessage
	if jerr := json.Unmarshal(p, &m); jerr != nil {
		t.Fatalf("encoding/json cannot read accepted %q: %v", p, jerr)
	}
	if got := string(m["cmd"]); got != `"`+string(e.Cmd)+`"` {
		t.Fatalf("%q: Cmd %q, encoding/json %s", p, e.Cmd, got)
	}
	if !bytes.Equal(m["seqno"], e.Seqno) || !bytes.Equal(m["data"], e.Data) {
		t.Fatalf("%q: Seqno %q Data %q; encoding/json %q %q", p, e.Seqno, e.Data, m["seqno"], m["data"])
	}
	reply := AppendReply(nil, e.Cmd, e.Seqno, 0, "ok", e.Data)
	if !json.Valid(reply) {
		t.Fatalf("%q: reply %q is not valid JSON", p, reply)
	}
	var back Envelope
	if err := back.Decode(reply); err != nil || !bytes.Equal(back.Cmd, e.Cmd) ||
		!bytes.Equal(back.Seqno, e.Seqno) || !bytes.Equal(back.Data, e.Data) {
		t.Fatalf("%q: reply %q decodes to %q %q %q, %v", p, reply, back.Cmd, back.Seqno, back.Data, err)
	}
}

func TestAppendReply(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cmd, seqno    string // "" is passed as nil
		status        int
		msg, data     string
		want          string
		wantDecodedAs map[string]any
	}{
		{
			name: "reply", cmd: "join", seqno: `"42"`, status: 0, msg: "ok", data: `{"room":"r1","n":[1,2]}`,
			want:          `{"cmd":"join","seqno":"42","status":0,"msg":"ok","data":{"room":"r1","n":[1,2]}}`,
			wantDecodedAs: map[string]any{"cmd": "join", "seqno": "42", "status": 0.0, "msg": "ok", "data": map[string]any{"room": "r1", "n": []any{1.0, 2.0}}},
		},
		{
			name: "numeric seqno, no data", cmd: "pong", seqno: "7", status: 0, msg: "ok",
			want:          `{"cmd":"pong","seqno":7,"status":0,"msg":"ok"}`,
			wantDecodedAs: map[string]any{"cmd": "pong", "seqno": 7.0, "status": 0.0, "msg": "ok"},
		},
		{
			name: "error without cmd or seqno", status: 400, msg: "malformed JSON",
			want:          `{"cmd":"","status":400,"msg":"malformed JSON"}`,
			wantDecodedAs: map[string]any{"cmd": "", "status": 400.0, "msg": "malformed JSON"},
		},
		{
			name: "msg escaped", cmd: "x", seqno: `"a\"b"`, status: 500, msg: "panic: \"boom\"\n\tat \\x \x01 é \xff",
			want:          `{"cmd":"x","seqno":"a\"b","status":500,"msg":"panic: \"boom\"\n\tat \\x \u0001 é \ufffd"}`,
			wantDecodedAs: map[string]any{"cmd": "x", "seqno": `a"b`, "status": 500.0, "msg": "panic: \"boom\"\n\tat \\x \x01 é \ufffd"},
		},
		{
			name: "cmd escaped", cmd: `we"ird`, status: 404, msg: "unknown cmd",
			want:          `{"cmd":"we\"ird","status":404,"msg":"unknown cmd"}`,
			wantDecodedAs: map[string]any{"cmd": `we"ird`, "status": 404.0, "msg": "unknown cmd"},
		},
		{
			name: "negative status, null data", cmd: "c", status: -1, msg: "", data: "null",
			want:          `{"cmd":"c","status":-1,"msg":"","data":null}`,
			wantDecodedAs: map[string]any{"cmd": "c", "status": -1.0, "msg": "", "data": nil},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orNil := func(s string) []byte {
				if s == "" {
					return nil
				}
				return []byte(s)
			}
			got := AppendReply([]byte("x"), orNil(tc.cmd), orNil(tc.seqno), tc.status, tc.msg, orNil(tc.data))
			if string(got) != "x"+tc.want {
				t.Fatalf("AppendReply =\n%s\nwant\n%s", got[1:], tc.want)
			}
			var decoded map[string]any
			if err := json.Unmarshal(got[1:], &decoded); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			if !reflect.DeepEqual(decoded, tc.wantDecodedAs) {
				t.Errorf("decoded %#v, want %#v", decoded, tc.wantDecodedAs)
			}
		})
	}
}

// TestAppendReply_EchoesRequest checks the round trip the server makes:
// decode a request, answer it, and find cmd and seqno echoed byte for byte.
func TestAppendReply_EchoesRequest(t *testing.T) {
	for _, tc := range envelopeCases {
		if tc.err != nil {
			continue
		}
		var e Envelope
		if err := e.Decode([]byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		got := AppendReply(nil, e.Cmd, e.Seqno, 0, "ok", []byte(`{"ok":true}`))
		want := `{"cmd":"` + tc.cmd + `"`
		if tc.seqno != "" {
			want += `,"seqno":` + tc.seqno
		}
		want += `,"status":0,"msg":"ok","data":{"ok":true}}`
		if string(got) != want {
			t.Errorf("%s: reply\n%s\nwant\n%s", tc.name, got, want)
		}
	}
}

func TestAppendPush(t *testing.T) {
	for _, tc := range []struct {
		cmd, data, want string
	}{
		{"enter_room", `{"room":"r1","user":"u"}`, `{"cmd":"enter_room","data":{"room":"r1","user":"u"}}`},
		{"welcome", "", `{"cmd":"welcome"}`},
		{"a\"b", "1", `{"cmd":"a\"b","data":1}`},
	} {
		var data []byte
		if tc.data != "" {
			data = []byte(tc.data)
		}
		if got := AppendPush(nil, tc.cmd, data); string(got) != tc.want {
			t.Errorf("AppendPush(%q, %q) = %s, want %s", tc.cmd, tc.data, got, tc.want)
		}
	}
}

// appendStringCases pairs inputs with AppendString's exact output.
var appendStringCases = []struct{ in, want string }{
	{"", `""`},
	{"ok", `"ok"`},
	{`a"b\c/d`, `"a\"b\\c/d"`},
	{"\n\r\t\b\f", `"\n\r\t\b\f"`},
	{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f\""},
	{"é€😀", `"é€😀"`},
	{"\xff", `"\ufffd"`},
	{"a\xc3", `"a\ufffd"`},                             // truncated sequence
	{"\xc0\xaf", `"\ufffd\ufffd"`},                     // overlong '/'
	{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},           // surrogate
	{"\xf4\x90\x80\x80", `"\ufffd\ufffd\ufffd\ufffd"`}, // above U+10FFFF
	{"\xe2\x82", `"\ufffd\ufffd"`},
	{"\xe1\x80\xc0", `"\ufffd\ufffd\ufffd"`}, // bad third byte
	{"\xf3\xa0\x80\x81", `"` + "\U000E0001" + `"`},
	{"\xe0\x80\xaf", `"\ufffd\ufffd\ufffd"`},           // overlong, 3 bytes
	{"\xf0\x80\x80\xaf", `"\ufffd\ufffd\ufffd\ufffd"`}, // overlong, 4 bytes
	{"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", `"` + "\U00010000\U0010FFFF" + `"`},
	{"\xef\xbf\xbd", `"` + "\uFFFD" + `"`}, // a real U+FFFD stays as is
}

func TestAppendString(t *testing.T) {
	for _, tc := range appendStringCases {
		if got := string(AppendString(nil, tc.in)); got != tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		checkAppendString(t, tc.in)
	}
}

// checkAppendString checks AppendString(s) against encoding/json: valid,
// and decoding to s with each byte of invalid UTF-8 replaced by U+FFFD.
func checkAppendString(t *testing.T, s string) {
	t.Helper()
	out := AppendString(nil, s)
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("AppendString(%q) = %s: %v", s, out, err)
	}
	var want strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		want.WriteRune(r) // RuneError for each invalid byte
		i += size
	}
	if got != want.String() {
		t.Fatalf("AppendString(%q) = %s, decodes to %q, want %q", s, out, got, want.String())
	}
	if string(appendJSONString(nil, []byte(s))) != string(out) {
		t.Fatalf("the []byte and string versions differ for %q", s)
	}
}

func TestCheckJSON(t *testing.T) {
	for _, tc := range []struct {
		in  string
		err error
	}{
		{`{"a":[1,"x",true,null]}`, nil},
		{` "héllo" `, nil},
		{`-1.5e3`, nil},
		{`null`, nil},
		{nestedArrays(64), nil},
		{nestedArrays(65), ErrJSONTooDeep},
		{``, ErrBadJSON},
		{`  `, ErrBadJSON},
		{`{"a":1`, ErrBadJSON},
		{`1 2`, ErrBadJSON},
		{`{"a":1}}`, ErrBadJSON},
		{`"\u00e9"`, nil},
		{"\"\xff\"", ErrInvalidUTF8},
		{"{\"\xc3\":1}", ErrInvalidUTF8},
		{"\"\xed\xa0\x80\"", ErrInvalidUTF8}, // a UTF-16 surrogate encoded in UTF-8
	} {
		if err := CheckJSON([]byte(tc.in)); err != tc.err {
			t.Errorf("CheckJSON(%q) = %v, want %v", tc.in, err, tc.err)
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		checkEnvelopeAgainstJSON(t, p)
		checkAppendString(t, string(p))
		if err := CheckJSON(p); err == nil && (!json.Valid(p) || !utf8.Valid(p)) {
			t.Fatalf("CheckJSON accepted %q", p)
		} else if err == ErrBadJSON && json.Valid(p) {
			t.Fatalf("CheckJSON(%q) = ErrBadJSON; encoding/json says it is valid", p)
		}
	})
}

func ExampleEnvelope_Decode() {
	msg := []byte(`{"cmd":"join","seqno":"42","data":{"room":"r1"}}`)

	var e Envelope
	var reply []byte
	if err := e.Decode(msg); err != nil {
		reply = AppendReply(reply, e.Cmd, e.Seqno, 400, "malformed JSON", nil)
	} else {
		// The handler binds e.Data (here {"room":"r1"}) with sonic.
		reply = AppendReply(reply, e.Cmd, e.Seqno, 0, "ok", []byte(`{"room":"r1","members":3}`))
	}
	fmt.Printf("cmd %s, seqno %s, data %s\n", e.Cmd, e.Seqno, e.Data)
	fmt.Println(string(reply))

	err := e.Decode([]byte(`{"seqno":7}`))
	fmt.Println(err)
	fmt.Println(string(AppendReply(nil, e.Cmd, e.Seqno, 400, "missing cmd", nil)))
	// Output:
	// cmd join, seqno "42", data {"room":"r1"}
	// {"cmd":"join","seqno":"42","status":0,"msg":"ok","data":{"room":"r1","members":3}}
	// protocol: missing cmd
	// {"cmd":"","seqno":7,"status":400,"msg":"missing cmd"}
}

// benchEnvelopeMsg is a typical request.
var benchEnvelopeMsg = []byte(`{"cmd":"publish","seqno":"1024","data":{"room":"room-42","notify_type":"bc","payload":{"text":"hello, world","ts":1700000000123}}}`)

func BenchmarkEnvelope_Scanner(b *testing.B) {
	var e Envelope
	b.SetBytes(int64(len(benchEnvelopeMsg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Decode(benchEnvelopeMsg); err != nil {
			b.Fatal(err)
		}
	}
}

// sonicEnvelope is how the envelope would be read with sonic.Unmarshal.
type sonicEnvelope struct {
	Cmd   string                 `json:"cmd"`
	Seqno sonic.NoCopyRawMessage `json:"seqno"`
	Data  sonic.NoCopyRawMessage `json:"data"`
}

func BenchmarkEnvelope_SonicUnmarshal(b *testing.B) {
	b.SetBytes(int64(len(benchEnvelopeMsg)))
	b.ReportAllocs()
	for b.Loop() {
		var e sonicEnvelope
		if err := sonic.Unmarshal(benchEnvelopeMsg, &e); err != nil || e.Cmd != "publish" {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnvelope_SonicGet reads only cmd and does not validate the rest
// of the message: a lower bound for the sonic.Get approach.
func BenchmarkEnvelope_SonicGet(b *testing.B) {
	b.SetBytes(int64(len(benchEnvelopeMsg)))
	b.ReportAllocs()
	for b.Loop() {
		cmd, err := sonic.Get(benchEnvelopeMsg, "cmd")
		if err != nil {
			b.Fatal(err)
		}
		if s, err := cmd.String(); err != nil || s != "publish" {
			b.Fatal(s, err)
		}
	}
}

func BenchmarkEnvelope_EncodingJSON(b *testing.B) {
	b.SetBytes(int64(len(benchEnvelopeMsg)))
	b.ReportAllocs()
	for b.Loop() {
		var e struct {
			Cmd   string          `json:"cmd"`
			Seqno json.RawMessage `json:"seqno"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(benchEnvelopeMsg, &e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendReply(b *testing.B) {
	var e Envelope
	if err := e.Decode(benchEnvelopeMsg); err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"room":"room-42","queued":2}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendReply(buf[:0], e.Cmd, e.Seqno, 0, "ok", data)
	}
}

// TestNonPlain8: the word-at-a-time test finds the same first byte a JSON
// string cannot hold as the byte-at-a-time table, for words built around
// every boundary byte (a control character, '"', '\\', 0x1f/0x20, 0x7f,
// 0x80, 0xff) at every position, over backgrounds that tempt a borrow.
func TestNonPlain8(t *testing.T) {
	firstBad := func(w [8]byte) int {
		for i, c := range w {
			if !jsonPlain[c] {
				return i
			}
		}
		return 8
	}
	specials := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', '\\', '#', '[', ']', 0x7f, 0x80, 0x9f, 0xa0, 0xdc, 0xff}
	check := func(w [8]byte) {
		t.Helper()
		want := firstBad(w)
		got := 8
		if m := nonPlain8(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("nonPlain8(% x): first non-plain byte %d, want %d", w, got, want)
		}
	}
	for _, bg := range specials {
		for _, a := range specials {
			for i := 0; i < 8; i++ {
				for _, c := range specials {
					for j := i + 1; j < 8; j++ {
						var w [8]byte
						for k := range w {
							w[k] = bg
						}
						w[i], w[j] = a, c
						check(w)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		for k := range w {
			w[k] = specials[rng.IntN(len(specials))]
			if rng.IntN(3) == 0 {
				w[k] = byte(rng.IntN(256))
			}
		}
		check(w)
	}
}
