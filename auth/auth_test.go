package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/internal/srvtest"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/server"
)

var (
	secret = []byte("a-secret-of-thirty-two-bytes-xx!")
	start  = time.Unix(1_700_000_000, 0)
)

// keys made once: RSA generation is slow.
var (
	rsaKey, _       = rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _        = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ = ed25519.GenerateKey(rand.Reader)
)

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims builds a token's claims: sub, exp and nbf relative to start, and
// whatever else.
func claims(sub string, exp time.Duration, more jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "iss": "https://issuer.example", "aud": "wsloop"}
	if exp != 0 {
		c["exp"] = start.Add(exp).Unix()
	}
	for k, v := range more {
		c[k] = v
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rig is a server whose connections must present a token (HS256 with
// secret, or RS256 with rsaKey), on a fake clock.
type rig struct {
	clk *clock.Fake
	v   *Verifier
	srv *server.Server
	url string
	rec *srvtest.CloseRecorder
}

func startRig(t *testing.T, require bool) *rig {
	t.Helper()
	clk := clock.NewFake(start)
	v, err := New(Config{Secret: secret, PublicKey: &rsaKey.PublicKey, Issuer: "https://issuer.example", Audience: "wsloop",
		Require: require, Clock: clk, Logger: wstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := server.NewRouter()
	v.Install(r)
	rec := srvtest.NewCloseRecorder(v.Wrap(r))
	srv, u := srvtest.Start(t, server.Config{Clock: clk, Heartbeat: server.Heartbeat{Timeout: time.Hour}}, rec)
	return &rig{clk: clk, v: v, srv: srv, url: u, rec: rec}
}

// dial connects with the token in the query (or, with header set, in
// Authorization) and returns the connection, or the close it got at once.
func (r *rig) dial(t *testing.T, tok string, header bool) (*websocket.Conn, *websocket.CloseError) {
	t.Helper()
	u, h := r.url, http.Header{}
	switch {
	case tok == "":
	case header:
		h.Set("Authorization", "Bearer "+tok)
	default:
		u += "?token=" + url.QueryEscape(tok)
	}
	c, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(u, h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := c.ReadMessage()
	if err == nil {
		if !strings.HasPrefix(string(p), `{"cmd":"welcome"`) {
			t.Fatalf("first message %q", p)
		}
		return c, nil
	}
	ce, ok := err.(*websocket.CloseError)
	if !ok {
		t.Fatalf("read: %v", err)
	}
	return nil, ce
}

// TestTokenAttacks: every way of presenting a token a server must refuse
// is refused with 1008 and a reason that says which; valid tokens of each
// configured algorithm are accepted.
func TestTokenAttacks(t *testing.T) {
	r := startRig(t, true)
	rsaPEM := pemOf(t, &rsaKey.PublicKey)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims("mallory", time.Hour, nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	valid := sign(t, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, nil))
	tampered := valid[:strings.LastIndexByte(valid, '.')] + "." + sign(t, jwt.SigningMethodHS256, []byte("another secret"), claims("alice", time.Hour, nil))[strings.LastIndexByte(valid, '.')+1:]
	for _, tc := range []struct {
		name   string
		token  string
		header bool
		reason string // "" accepted
	}{
		{"no token", "", false, RequiredReason},
		{"not a token", "abc.def.ghi", false, InvalidReason},
		{"valid HS256, query", valid, false, ""},
		{"valid HS256, header", valid, true, ""},
		{"valid RS256", sign(t, jwt.SigningMethodRS256, rsaKey, claims("bob", time.Hour, nil)), false, ""},
		{"bad signature", sign(t, jwt.SigningMethodHS256, []byte("another secret"), claims("alice", time.Hour, nil)), false, InvalidReason},
		{"claims of one token, signature of another", tampered, false, InvalidReason},
		{"alg none", none, false, InvalidReason},
		{"HS256 keyed with the RSA public key", sign(t, jwt.SigningMethodHS256, rsaPEM, claims("mallory", time.Hour, nil)), false, InvalidReason},
		{"HS512 (not configured)", sign(t, jwt.SigningMethodHS512, secret, claims("mallory", time.Hour, nil)), false, InvalidReason},
		{"ES256 (not configured)", sign(t, jwt.SigningMethodES256, ecKey, claims("mallory", time.Hour, nil)), false, InvalidReason},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, claims("alice", -time.Second, nil)), false, ExpiredReason},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, jwt.MapClaims{"nbf": start.Add(time.Minute).Unix()})), false, InvalidReason},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, jwt.MapClaims{"iss": "https://evil.example"})), false, InvalidReason},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, jwt.MapClaims{"aud": "another-app"})), false, InvalidReason},
		{"meta not an object", sign(t, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, jwt.MapClaims{"meta": "admin"})), false, InvalidReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ce := r.dial(t, tc.token, tc.header)
			switch {
			case tc.reason == "" && ce != nil:
				t.Fatalf("refused: %d %q", ce.Code, ce.Text)
			case tc.reason == "":
				_ = c
			case ce == nil:
				t.Fatal("accepted")
			case ce.Code != 1008 || ce.Text != tc.reason:
				t.Fatalf("closed %d %q, want 1008 %q", ce.Code, ce.Text, tc.reason)
			}
		})
	}
	if st := r.v.Stats(); st.Accepted != 3 || st.Refused != 13 {
		t.Errorf("stats %+v, want 3 accepted, 13 refused", st)
	}
	// Without Require, no token is fine; a bad one still is not.
	open := startRig(t, false)
	if _, ce := open.dial(t, "", false); ce != nil {
		t.Errorf("no token, not required: closed %d %q", ce.Code, ce.Text)
	}
	if _, ce := open.dial(t, "abc", false); ce == nil || ce.Text != InvalidReason {
		t.Errorf("a bad token, not required: %v", ce)
	}
}

// TestTokenIdentity: sub is the connection's user in presence and as the
// from of its messages; the token's meta, not the client's, is its
// presence meta.
func TestTokenIdentity(t *testing.T) {
	r := startRig(t, false)
	c, _ := r.dial(t, sign(t, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, jwt.MapClaims{"meta": map[string]any{"seat": 1}})), false)
	alice := wstest.Attach(t, c, "")
	bob := wstest.NewClient(t, r.url)
	alice.OK("join", map[string]any{"room": "r", "meta": map[string]any{"seat": 99, "admin": true}})
	bob.OK("join", map[string]any{"room": "r"})
	m := wstest.Data(bob.OK("members", map[string]any{"room": "r"}))
	members, _ := m["members"].([]any)
	found := false
	for _, x := range members {
		mm := x.(map[string]any)
		if mm["user"] == "alice" {
			found = true
			if meta, _ := mm["meta"].(map[string]any); meta["seat"] != 1.0 || meta["admin"] != nil {
				t.Errorf("alice's meta %v, want the token's {seat:1}", mm["meta"])
			}
		}
	}
	if !found {
		t.Fatalf("alice not among the members: %v", m)
	}
	alice.OK("publish", map[string]any{"room": "r", "payload": "hi"})
	if msg := wstest.Data(bob.Push("message")); msg["from"] != "alice" {
		t.Errorf("message from %v, want alice", msg["from"])
	}
}

// TestTokenExpiryAndRefresh: a connection whose token expires is closed
// with 1008 "token expired" within one tick of exp (fake clock); one that
// refreshed in time lives until its new token's exp; a refresh for another
// user, an invalid one, or one from an unauthenticated connection is
// refused and changes nothing.
func TestTokenExpiryAndRefresh(t *testing.T) {
	r := startRig(t, false)
	tok := func(sub string, exp time.Duration) string {
		return sign(t, jwt.SigningMethodHS256, secret, claims(sub, exp, nil))
	}
	c1, _ := r.dial(t, tok("alice", 10*time.Second), false)
	c2, _ := r.dial(t, tok("bob", 10*time.Second), false)
	anon := wstest.NewClient(t, r.url)
	bob := wstest.Attach(t, c2, "")

	if msg := bob.Status("refresh", map[string]any{"token": tok("alice", time.Minute)}, 403); !strings.Contains(msg, "another user") {
		t.Errorf("refresh for another user: %q", msg)
	}
	if msg := bob.Status("refresh", map[string]any{"token": "junk"}, 401); msg != InvalidReason {
		t.Errorf("refresh with junk: %q", msg)
	}
	if msg := bob.Status("refresh", map[string]any{"token": tok("bob", -time.Second)}, 401); msg != ExpiredReason {
		t.Errorf("refresh with an expired token: %q", msg)
	}
	bob.Status("refresh", map[string]any{}, 400)
	anon.Status("refresh", map[string]any{"token": tok("carol", time.Minute)}, 403)
	bob.OK("refresh", map[string]any{"token": tok("bob", time.Minute)})

	r.clk.Advance(9 * time.Second) // not yet
	bob.OK("echo", "still here")
	r.clk.Advance(2*time.Second + 500*time.Millisecond) // past alice's exp by more than a tick (1 s)
	if ce := wstest.ExpectClose(t, c1, 1008); ce.Text != ExpiredReason {
		t.Errorf("alice closed with %q", ce.Text)
	}
	bob.OK("echo", "refreshed: still here")
	r.clk.Advance(50 * time.Second) // past bob's new exp
	select {
	case <-bob.Done:
	case <-time.After(5 * time.Second):
		t.Fatal("bob still open after his refreshed token expired")
	}
	if ce, ok := bob.Err.Load().(*websocket.CloseError); !ok || ce.Code != 1008 || ce.Text != ExpiredReason {
		t.Errorf("bob closed with %v", bob.Err.Load())
	}
	anon.OK("echo", "no token, no expiry")
	deadline := time.Now().Add(5 * time.Second)
	for r.v.Stats().Expired != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // OnClose runs when the sockets close
	}
	if st := r.v.Stats(); st.Expired != 2 || st.Refreshed != 1 {
		t.Errorf("stats %+v, want 2 expired, 1 refreshed", st)
	}
}

// TestVerifyKeyTypes: ES256 and EdDSA keys (from PEM) verify their own
// tokens and nothing else; unsupported keys and curves are refused.
func TestVerifyKeyTypes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pub   any
		m     jwt.SigningMethod
		key   any
		other string
	}{
		{"ES256", &ecKey.PublicKey, jwt.SigningMethodES256, ecKey, sign(t, jwt.SigningMethodRS256, rsaKey, claims("x", time.Hour, nil))},
		{"EdDSA", edPub, jwt.SigningMethodEdDSA, edKey, sign(t, jwt.SigningMethodES256, ecKey, claims("x", time.Hour, nil))},
		{"RS256", &rsaKey.PublicKey, jwt.SigningMethodRS256, rsaKey, sign(t, jwt.SigningMethodEdDSA, edKey, claims("x", time.Hour, nil))},
	} {
		pub, err := ParsePublicKey(pemOf(t, tc.pub))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		v, err := New(Config{PublicKey: pub, Clock: clock.NewFake(start)})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, err := v.Verify(sign(t, tc.m, tc.key, claims("u", time.Hour, jwt.MapClaims{"rooms": []string{"chat:*"}})))
		if err != nil || c.Sub != "u" || !c.Expires.Equal(start.Add(time.Hour)) || len(c.Rooms) != 1 {
			t.Errorf("%s: %+v, %v", tc.name, c, err)
		}
		if _, err := v.Verify(tc.other); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s accepted a token of another algorithm: %v", tc.name, err)
		}
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := New(Config{PublicKey: &p384.PublicKey}); err == nil {
		t.Error("a P-384 key accepted for ES256")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("no key accepted")
	}
	if _, err := ParsePublicKey([]byte("not PEM")); err == nil {
		t.Error("ParsePublicKey accepted garbage")
	}
}

// FuzzToken: whatever a client presents, Verify returns an error wrapping
// ErrInvalid or the claims of a token signed with the secret; it never
// panics.
func FuzzToken(f *testing.F) {
	f.Add(sign(f, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, jwt.MapClaims{"meta": map[string]any{"a": 1}, "rooms": []string{"r"}})))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	v, err := New(Config{Secret: secret, PublicKey: &ecKey.PublicKey, Clock: clock.NewFake(start)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if c.Meta != nil && c.Meta[0] != '{' {
			t.Fatalf("meta %q accepted", c.Meta)
		}
	})
}

// BenchmarkVerify: the cost of checking one connection's token.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
		tok  string
	}{
		{"HS256", Config{Secret: secret}, sign(b, jwt.SigningMethodHS256, secret, claims("alice", time.Hour, nil))},
		{"ES256", Config{PublicKey: &ecKey.PublicKey}, sign(b, jwt.SigningMethodES256, ecKey, claims("alice", time.Hour, nil))},
		{"EdDSA", Config{PublicKey: edPub}, sign(b, jwt.SigningMethodEdDSA, edKey, claims("alice", time.Hour, nil))},
		{"RS256", Config{PublicKey: &rsaKey.PublicKey}, sign(b, jwt.SigningMethodRS256, rsaKey, claims("alice", time.Hour, nil))},
	} {
		tc.cfg.Clock = clock.NewFake(start)
		v, err := New(tc.cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The floor, in the same run: the signature check alone, on the
		// same bytes, with the standard library (no parsing, no claims).
		i := strings.LastIndexByte(tc.tok, '.')
		signed := []byte(tc.tok[:i])
		sig, err := base64.RawURLEncoding.DecodeString(tc.tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		digest := sha256.Sum256(signed)
		var check func() bool
		switch tc.name {
		case "HS256":
			check = func() bool {
				m := hmac.New(sha256.New, secret)
				m.Write(signed)
				return hmac.Equal(m.Sum(nil), sig)
			}
		case "ES256":
			check = func() bool {
				return ecdsa.Verify(&ecKey.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
			}
		case "EdDSA":
			check = func() bool { return ed25519.Verify(edPub, signed, sig) }
		case "RS256":
			check = func() bool { return rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, digest[:], sig) == nil }
		}
		b.Run(tc.name+"-signature-only", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !check() {
					b.Fatal("signature check failed")
				}
			}
		})
	}
}
