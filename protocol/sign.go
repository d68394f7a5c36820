package protocol

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// SignedPing is the data of a signed ping command:
// {"online_token":"…","timestamp":<unix seconds>,"sign":"<hex>"}.
type SignedPing struct {
	OnlineToken string          `json:"online_token"`
	Timestamp   json.RawMessage `json:"timestamp"` // a JSON number or a string of digits
	Sign        string          `json:"sign"`
}

// Sign returns the sign a client puts in a signed ping command: the hex
// HMAC-SHA256 of onlineToken + "." + sid + "." + timestamp under secret,
// where onlineToken and sid are those of the connection's welcome event.
// Clients in other languages compute the same. Safe for concurrent use.
func Sign(secret []byte, onlineToken, sid string, timestamp int64) string {
	return hex.EncodeToString(sum(secret, onlineToken, sid, strconv.AppendInt(nil, timestamp, 10)))
}

func sum(secret []byte, token, sid string, ts []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(token))
	mac.Write([]byte{'.'})
	mac.Write([]byte(sid))
	mac.Write([]byte{'.'})
	mac.Write(ts)
	return mac.Sum(nil)
}

// OnlineToken returns the online_token of the connection whose session id
// is sid: 32 hex digits of HMAC-SHA256(secret, "online_token." + sid). The
// server derives it, so it keeps nothing per connection, and only a holder
// of the secret can compute it. Safe for concurrent use.
func OnlineToken(secret []byte, sid string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("online_token."))
	mac.Write([]byte(sid))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// Check verifies p for the connection with session id sid and online
// token token, at time now: online_token must be token, sign the lower- or
// upper-case hex of HMAC-SHA256(secret, online_token + "." + sid + "." +
// timestamp), timestamp Unix seconds within window of now. It returns
// StatusOK and the timestamp, or the reply status and msg: 400
// "online_token and timestamp required", 400 "timestamp must be Unix
// seconds", 401 "bad online_token", 401 "bad sign", 401 "stale timestamp".
// (Whether the timestamp is newer than the last accepted one is the
// caller's to check.) Safe for concurrent use.
func (p *SignedPing) Check(secret []byte, token, sid string, now time.Time, window time.Duration) (status int, msg string, timestamp int64) {
	if p.OnlineToken == "" || len(p.Timestamp) == 0 {
		return StatusBadRequest, "online_token and timestamp required", 0
	}
	ts := bytes.Trim(p.Timestamp, `"`)
	sec, err := strconv.ParseInt(string(ts), 10, 64)
	if err != nil {
		return StatusBadRequest, "timestamp must be Unix seconds", 0
	}
	if !hmac.Equal([]byte(p.OnlineToken), []byte(token)) {
		return StatusUnauthenticated, "bad online_token", 0
	}
	got, err := hex.DecodeString(p.Sign)
	if err != nil || !hmac.Equal(got, sum(secret, p.OnlineToken, sid, ts)) {
		return StatusUnauthenticated, "bad sign", 0
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return StatusUnauthenticated, "stale timestamp", 0
	}
	return StatusOK, "", sec
}
