package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsloop/wsloop/clock"
)

// Close reasons (with code 1008) and refresh failures, as clients see them.
const (
	InvalidReason  = "invalid token"
	ExpiredReason  = "token expired"
	RequiredReason = "token required"
)

// Errors of Verify: every failure wraps ErrInvalid, an expired token
// ErrExpired as well.
var (
	ErrInvalid = errors.New(InvalidReason)
	ErrExpired = errors.New(ExpiredReason)
)

// Config configures a Verifier. Secret or PublicKey (or both) is required.
type Config struct {
	// Secret verifies HS256 tokens. Leave it nil to accept no HMAC token.
	Secret []byte
	// PublicKey verifies tokens signed by its private key: RS256 for an
	// *rsa.PublicKey, ES256 for a P-256 *ecdsa.PublicKey, EdDSA for an
	// ed25519.PublicKey (ParsePublicKey reads one from PEM).
	PublicKey crypto.PublicKey
	// Issuer and Audience, when set, must be the token's iss and one of
	// its aud.
	Issuer   string
	Audience string
	// Require refuses connections without a token (1008 "token
	// required"). Without it they are accepted, unauthenticated; a token
	// that is presented must be valid either way.
	Require bool
	// Leeway is how far exp and nbf may be off the server's clock.
	// Zero means none.
	Leeway time.Duration
	// Clock is the time tokens are checked against. Zero means
	// clock.System().
	Clock clock.Clock
	// Logger gets why a token was refused (debug). Zero means
	// slog.Default().
	Logger *slog.Logger
}

// Claims are what wsloop reads from a verified token.
type Claims struct {
	// Sub is the user (the sub claim).
	Sub string
	// Expires is the exp claim; zero when the token has none.
	Expires time.Time
	// Meta is the meta claim, a JSON object, or nil.
	Meta json.RawMessage
	// Rooms is the rooms claim.
	Rooms []string
}

// Stats are a Verifier's counters.
type Stats struct {
	Accepted  uint64 // connections that presented a valid token
	Refused   uint64 // connections refused: no token where one is required, or an invalid one
	Expired   uint64 // connections closed when their token expired
	Refreshed uint64 // tokens refreshed on an open connection
}

// Verifier verifies connection tokens (JWT) and binds connections to what
// they prove. Create it with New; it is safe for concurrent use.
type Verifier struct {
	cfg     Config
	parser  *jwt.Parser
	methods []string
	log     *slog.Logger

	accepted, refused, expired, refreshed atomic.Uint64
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	var methods []string
	if len(cfg.Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.PublicKey != nil {
		alg, err := algorithmOf(cfg.PublicKey)
		if err != nil {
			return nil, err
		}
		methods = append(methods, alg)
	}
	if len(methods) == 0 {
		return nil, errors.New("auth: Config.Secret or Config.PublicKey is required")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: Leeway %v is negative", cfg.Leeway)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods), // never "none", never an algorithm of another key
		jwt.WithTimeFunc(cfg.Clock.Now),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{cfg: cfg, parser: jwt.NewParser(opts...), methods: methods, log: cfg.Logger}, nil
}

// algorithmOf returns the one algorithm a public key verifies.
func algorithmOf(k crypto.PublicKey) (string, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("auth: an ECDSA key must be on P-256 (ES256)")
		}
		return jwt.SigningMethodES256.Alg(), nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA.Alg(), nil
	}
	return "", fmt.Errorf("auth: unsupported public key type %T (want RSA, ECDSA P-256 or Ed25519)", k)
}

// ParsePublicKey reads a public key from PEM: a PKIX "PUBLIC KEY" block
// (RSA, ECDSA or Ed25519), a PKCS #1 "RSA PUBLIC KEY", or a certificate.
func ParsePublicKey(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("auth: no PEM block in the public key file")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return nil, fmt.Errorf("auth: PEM block %q is not a public key", block.Type)
}

// tokenClaims is the JSON of a token's claims.
type tokenClaims struct {
	jwt.RegisteredClaims
	Meta  json.RawMessage `json:"meta,omitempty"`
	Rooms []string        `json:"rooms,omitempty"`
}

// Verify checks token's signature, algorithm, exp, nbf, iss and aud, and
// returns its claims. Every failure wraps ErrInvalid; an expired token
// wraps ErrExpired too. The error's text says what was wrong (for logs:
// clients get only InvalidReason or ExpiredReason).
func (v *Verifier) Verify(token string) (*Claims, error) {
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, v.key)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w: %v", ErrInvalid, ErrExpired, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(tc.Meta) > 0 && string(tc.Meta) != "null" && tc.Meta[0] != '{' {
		return nil, fmt.Errorf("%w: the meta claim must be a JSON object", ErrInvalid)
	}
	c := &Claims{Sub: tc.Subject, Rooms: tc.Rooms}
	if len(tc.Meta) > 0 && string(tc.Meta) != "null" {
		c.Meta = tc.Meta
	}
	if tc.ExpiresAt != nil {
		c.Expires = tc.ExpiresAt.Time
	}
	return c, nil
}

// key is the jwt.Keyfunc: the configured key of the token's algorithm
// (the parser has already refused any other algorithm).
func (v *Verifier) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		return v.cfg.Secret, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA, *jwt.SigningMethodEd25519:
		return v.cfg.PublicKey, nil
	}
	return nil, fmt.Errorf("unexpected algorithm %v", t.Header["alg"])
}

// Config returns the Verifier's configuration, defaults filled in.
func (v *Verifier) Config() Config { return v.cfg }

// Stats returns the Verifier's counters.
func (v *Verifier) Stats() Stats {
	return Stats{Accepted: v.accepted.Load(), Refused: v.refused.Load(), Expired: v.expired.Load(), Refreshed: v.refreshed.Load()}
}
