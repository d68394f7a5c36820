package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/server"
)

// Wrap returns h with connection tokens checked first. A connection
// presents its token as the "token" query parameter of the upgrade URL
// (browsers cannot set headers) or as "Authorization: Bearer <token>". A
// valid token binds the connection before h's OnOpen (Session.SetIdentity:
// sub is its user, meta its presence meta, rooms its grants) and closes it
// with 1008 "token expired" at exp, unless a refresh came first
// (Install). An invalid token is refused with 1008 "invalid token" or
// "token expired", a missing one with 1008 "token required" when
// Config.Require is set; h never sees a refused connection. The "token"
// query parameter is therefore reserved on the WebSocket path.
func (v *Verifier) Wrap(h server.Handler) server.Handler { return &admit{Handler: h, v: v} }

type admit struct {
	server.Handler
	v *Verifier
}

// OnOpen implements server.Handler. Runs on the connection's event loop.
func (a *admit) OnOpen(s *server.Session, r *codec.Request) error {
	tok := token(r)
	if tok == nil {
		if a.v.cfg.Require {
			return a.v.refuse(s, RequiredReason, nil)
		}
		return a.Handler.OnOpen(s, r)
	}
	c, err := a.v.Verify(string(tok))
	if err != nil {
		reason := InvalidReason
		if errors.Is(err, ErrExpired) {
			reason = ExpiredReason
		}
		return a.v.refuse(s, reason, err)
	}
	a.v.accepted.Add(1)
	bind(s, c)
	return a.Handler.OnOpen(s, r)
}

// OnClose implements server.Handler. Runs on the connection's event loop.
func (a *admit) OnClose(s *server.Session, reason server.CloseReason) {
	if reason.Cause == server.CauseServer && reason.Code == codec.StatusPolicyViolation && reason.Text == ExpiredReason {
		a.v.expired.Add(1)
	}
	a.Handler.OnClose(s, reason)
}

func (v *Verifier) refuse(s *server.Session, reason string, err error) error {
	v.refused.Add(1)
	if v.log.Enabled(context.Background(), slog.LevelDebug) {
		v.log.Debug("connection refused", "sid", s.ID(), "remote", s.RemoteAddr().String(), "reason", reason, "err", err)
	}
	return codec.CloseError{Code: codec.StatusPolicyViolation, Reason: reason}
}

// bind gives s what c proves, and its expiry.
func bind(s *server.Session, c *Claims) {
	s.SetIdentity(server.Identity{User: c.Sub, Meta: c.Meta, Rooms: c.Rooms})
	s.SetDeadline(c.Expires, codec.StatusPolicyViolation, ExpiredReason) // zero: none
}

// token returns the token r presents, or nil.
func token(r *codec.Request) []byte {
	if t := r.QueryValue("token"); t != nil {
		if bytes.IndexByte(t, '%') >= 0 { // a token needs no escaping, but a client may escape anyway
			if u, err := url.QueryUnescape(string(t)); err == nil {
				return []byte(u)
			}
		}
		return t
	}
	h := r.HeaderValue("Authorization")
	if len(h) > 7 && bytes.EqualFold(h[:7], []byte("bearer ")) {
		return bytes.TrimSpace(h[7:])
	}
	return nil
}

// Install adds the refresh command to r:
//
//	{"cmd":"refresh","seqno":"7","data":{"token":"<new token>"}}
//
// A valid token for the connection's user replaces its identity (meta,
// rooms) and its expiry: status 0. Otherwise the connection keeps its old
// token and expiry: 400 without a token, 401 "invalid token" or "token
// expired", 403 when the connection is not authenticated or the token is
// for another user.
func (v *Verifier) Install(r *server.Router) {
	r.Handle("refresh", v.refresh)
}

func (v *Verifier) refresh(c *server.Context) {
	var d struct {
		Token string `json:"token"`
	}
	if err := c.Bind(&d); err != nil || d.Token == "" {
		c.Fail(protocol.StatusBadRequest, "token required")
		return
	}
	s := c.Session()
	id, ok := s.Identity()
	if !ok {
		c.Fail(protocol.StatusForbidden, "not authenticated: present a token when connecting")
		return
	}
	claims, err := v.Verify(d.Token)
	if err != nil {
		reason := InvalidReason
		if errors.Is(err, ErrExpired) {
			reason = ExpiredReason
		}
		c.Fail(protocol.StatusUnauthenticated, reason)
		return
	}
	if claims.Sub != id.User {
		c.Fail(protocol.StatusForbidden, "the new token is for another user")
		return
	}
	bind(s, claims)
	v.refreshed.Add(1)
	c.OK(nil)
}
