package protocol

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(AppendMessage(nil, "r1", "u1", []byte(`{"a":1}`))), `{"cmd":"message","data":{"room":"r1","from":"u1","payload":{"a":1}}}`},
		{string(AppendMessage(nil, "", "u1", []byte(`2`))), `{"cmd":"message","data":{"from":"u1","payload":2}}`},
		{string(AppendMessage(nil, `a"b`, "u\n", nil)), `{"cmd":"message","data":{"room":"a\"b","from":"u\n","payload":null}}`},
		{string(AppendEnter(nil, "r", "u", []byte(`{"nick":"x"}`))), `{"cmd":"enter_room","data":{"room":"r","user":"u","meta":{"nick":"x"}}}`},
		{string(AppendEnter(nil, "r", "u", nil)), `{"cmd":"enter_room","data":{"room":"r","user":"u"}}`},
		{string(AppendExit(nil, "r", "u", ReasonKick)), `{"cmd":"exit_room","data":{"room":"r","user":"u","reason":"kick"}}`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
		if !json.Valid([]byte(tt.got)) {
			t.Errorf("invalid JSON %s", tt.got)
		}
	}
}

func ExampleAppendMessage() {
	fmt.Println(string(AppendMessage(nil, "lobby", "alice", []byte(`"hi"`))))
	fmt.Println(string(AppendExit(nil, "lobby", "bob", ReasonTimeout)))
	// Output:
	// {"cmd":"message","data":{"room":"lobby","from":"alice","payload":"hi"}}
	// {"cmd":"exit_room","data":{"room":"lobby","user":"bob","reason":"timeout"}}
}
