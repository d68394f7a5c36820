package lease

import (
	"errors"
	"fmt"

	"github.com/wsloop/wsloop/codec"
)

// Shared keeps leases where every node of a cluster sees them
// (cluster.LeaseStore keeps them in a NATS JetStream key-value bucket).
// With Config.Shared set, a Table is one node's view of them: Start,
// Heartbeat and End go to the store, and the table keeps a mirror of every
// lease, fed by Watch, so that a connection presenting an auth_body is
// bound without waiting (binds run on the event loops). A lease expires in
// the store, Timeout after its last heartbeat (to the store's resolution),
// and every node closes its own connections bound to it when Watch tells
// it.
type Shared interface {
	// Put stores a new lease, to expire Timeout from now.
	Put(r Record) error
	// Refresh moves the lease called id to expire Timeout from now; false
	// if no live lease is called so.
	Refresh(id string) (bool, error)
	// Remove ends the lease called id; false if no live lease is called so.
	Remove(id string) (bool, error)
	// Watch calls fn with every lease the store holds, then with every
	// change, from every node, until Close. fn runs on one goroutine.
	Watch(fn func(Change)) error
	// Close stops Watch.
	Close() error
}

// Record is a lease as the store keeps it.
type Record struct {
	ID   string `json:"id"`   // conn_id
	Auth string `json:"auth"` // auth_body
	User string `json:"user,omitempty"`
}

// Change is one change the store saw.
type Change struct {
	Record Record // for a lease that is gone, only Auth is set
	Gone   bool   // the lease has expired (Ended false) or was ended
	Ended  bool
}

// ErrStore wraps what a shared store failed with: the lease could not be
// started, heartbeated or ended now (HTTP 503).
var ErrStore = errors.New("lease: the shared lease store is unavailable")

func storeErr(err error) error { return fmt.Errorf("%w: %w", ErrStore, err) }

// mirror applies a change from the shared store to this node's view: a new
// or heartbeated lease becomes bindable here, a gone one closes the
// connections this node bound to it.
func (t *Table) mirror(c Change) {
	t.mu.Lock()
	if !c.Gone {
		le := t.byAuth[c.Record.Auth]
		if le == nil {
			le = &lease{id: c.Record.ID, auth: c.Record.Auth, user: c.Record.User}
			t.byAuth[le.auth] = le
			t.byID[le.id] = le
			t.active.Add(1)
		}
		le.deadline = t.now() + t.timeout // the store expires it; this only bounds a stale mirror
		t.mu.Unlock()
		return
	}
	le := t.byAuth[c.Record.Auth]
	if le == nil {
		t.mu.Unlock()
		return
	}
	t.remove(le)
	sids := le.sids
	le.sids = nil
	if !c.Ended {
		t.expired.Add(1)
	}
	t.mu.Unlock()
	code, reason := codec.StatusPolicyViolation, ExpiredReason
	if c.Ended {
		code, reason = codec.StatusNormalClosure, EndedReason
	}
	t.closeAll(sids, code, reason)
}
