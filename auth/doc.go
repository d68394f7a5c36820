// Package auth is wsloop's connection tokens (README "Authentication"):
// JSON Web Tokens an application's backend signs and its client presents
// when it opens the WebSocket, as the "token" query parameter or an
// "Authorization: Bearer" header.
//
//	upgrade request ── Verifier.Wrap's OnOpen ── Verify (signature, alg, exp, nbf, iss, aud)
//	                        │ valid: Session.SetIdentity (sub → user, meta, rooms)
//	                        │        Session.SetDeadline(exp, 1008 "token expired")
//	                        │ else:  close 1008 "invalid token" / "token expired" / "token required"
//	{"cmd":"refresh"} ─────── Verifier.Install's command: same sub → new identity and deadline
//
// Tokens are checked with github.com/golang-jwt/jwt/v5. Only the
// algorithms of the configured keys are accepted: HS256 with Config.Secret,
// and RS256, ES256 or EdDSA with Config.PublicKey (by its type); never
// "none", and never an HMAC keyed with a public key. The expiry is the
// session's deadline on its event loop's timing wheel: closed within one
// tick of exp, with no timer or goroutine of this package.
//
// # Concurrency
//
// Verify and Stats are safe for concurrent use. The Handler that Wrap
// returns and the refresh command run on the event loops, as any
// server.Handler does.
package auth
