package lease

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/server"
)

// Wrap returns a Handler that binds each connection to the lease whose
// auth_body its upgrade request presents, then hands it to h: the
// auth_body query parameter, or else the X-Auth-Body header. A bad or
// expired auth_body is refused with close 1008 "unknown or expired
// auth_body", a missing one with 1008 "auth_body required" when
// Config.Require is set (else it is accepted, unbound); h never sees a
// refused connection. A bound connection is authenticated, as the
// lease's user if it has one (Session.SetIdentity), before h's OnOpen; the
// namespaces' "auth" rules admit it. A bound connection that closes
// leaves its lease. The auth_body query parameter is therefore reserved on
// the WebSocket path.
func (t *Table) Wrap(h server.Handler) server.Handler { return &admit{Handler: h, t: t} }

type admit struct {
	server.Handler
	t *Table
}

// OnOpen implements server.Handler. Runs on the connection's event loop.
func (a *admit) OnOpen(s *server.Session, r *codec.Request) error {
	if reason := a.t.admit(s, r); reason != "" {
		return codec.CloseError{Code: codec.StatusPolicyViolation, Reason: reason}
	}
	if err := a.Handler.OnOpen(s, r); err != nil {
		a.t.unbind(s.ID()) // refused by h: OnClose will not run
		return err
	}
	return nil
}

// OnClose implements server.Handler. Runs on the connection's event loop.
func (a *admit) OnClose(s *server.Session, reason server.CloseReason) {
	a.t.unbind(s.ID())
	a.Handler.OnClose(s, reason)
}

// admit binds s to the lease its request names and returns why it must be
// refused, or "".
func (t *Table) admit(s *server.Session, r *codec.Request) string {
	auth := r.QueryValue("auth_body")
	if auth != nil {
		if bytes.IndexByte(auth, '%') >= 0 { // tokens need no escaping, but a client may escape anyway
			if u, err := url.QueryUnescape(string(auth)); err == nil {
				auth = []byte(u)
			}
		}
	} else {
		auth = r.HeaderValue("X-Auth-Body")
	}
	reason := ""
	if auth == nil {
		if !t.cfg.Require {
			return ""
		}
		t.refused.Add(1)
		reason = RequiredReason
	} else {
		user, ok := t.bind(auth, s.ID())
		if ok {
			// The backend vouched for it: authenticated, as its user.
			s.SetIdentity(server.Identity{User: user})
			return ""
		}
		reason = BadReason
	}
	if log := t.cfg.Logger; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("connection refused", "sid", s.ID(), "remote", s.RemoteAddr().String(), "reason", reason)
	}
	return reason
}
