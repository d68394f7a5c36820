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
// HMAC-SHA256 of onlineToken + "." + timestamp under secret. Clients in
// other languages compute the same. Safe for concurrent use.
func Sign(secret []byte, onlineToken string, timestamp int64) string {
	return hex.EncodeToString(sum(secret, onlineToken, strconv.AppendInt(nil, timestamp, 10)))
}

func sum(secret []byte, token string, ts []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(token))
	mac.Write([]byte{'.'})
	mac.Write(ts)
	return mac.Sum(nil)
}

// Check verifies p against secret at time now: sign must be the lower- or
// upper-case hex of HMAC-SHA256(secret, online_token + "." + timestamp),
// timestamp Unix seconds within window of now. It returns StatusOK, or the
// reply status and msg: 400 "online_token and timestamp required", 400
// "timestamp must be Unix seconds", 401 "bad sign", 401 "stale timestamp".
// Safe for concurrent use.
func (p *SignedPing) Check(secret []byte, now time.Time, window time.Duration) (int, string) {
	if p.OnlineToken == "" || len(p.Timestamp) == 0 {
		return StatusBadRequest, "online_token and timestamp required"
	}
	ts := bytes.Trim(p.Timestamp, `"`)
	sec, err := strconv.ParseInt(string(ts), 10, 64)
	if err != nil {
		return StatusBadRequest, "timestamp must be Unix seconds"
	}
	got, err := hex.DecodeString(p.Sign)
	if err != nil || !hmac.Equal(got, sum(secret, p.OnlineToken, ts)) {
		return StatusUnauthenticated, "bad sign"
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return StatusUnauthenticated, "stale timestamp"
	}
	return StatusOK, ""
}
