package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsloop/wsloop/lease"
)

// LeaseStore keeps session leases in a NATS JetStream key-value bucket,
// "<prefix>_leases", so that every node sees them (lease.Shared): a lease
// started on one node is accepted, heartbeated and ended on any, and its
// expiry closes its connections on all. The bucket holds two keys per
// lease, "a.<auth_body>" and "i.<conn_id>", each with the whole record
// (JSON); its TTL is the lease timeout, and a heartbeat writes both keys
// again, which restarts their age. An expired key leaves a marker
// (LimitMarkerTTL) that every node's watcher sees; an ended lease's keys
// are deleted. Expiry is as exact as JetStream's message ages (well under
// a second); the bucket is created with one replica (set Replicas on a
// clustered NATS with `nats kv` if more are wanted).
//
// While JetStream is unavailable (no NATS, or a server without
// JetStream), starting, heartbeating and ending leases fail (the HTTP API
// answers 503), connections keep being bound from the node's last view of
// the leases, and expiries are not seen until JetStream is back.
type LeaseStore struct {
	node    *Node
	bucket  string
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	kv     jetstream.KeyValue
	cancel context.CancelFunc
}

var _ lease.Shared = (*LeaseStore)(nil)

// opTimeout bounds one operation on the bucket.
const opTimeout = 2 * time.Second

// NewLeaseStore returns the store of the leases of node's cluster, for
// leases that live timeout without a heartbeat: every node must use the
// same timeout. The bucket is made on first use.
func NewLeaseStore(node *Node, timeout time.Duration) *LeaseStore {
	if timeout <= 0 {
		timeout = lease.DefaultTimeout
	}
	return &LeaseStore{node: node, bucket: node.cfg.Prefix + "_leases", timeout: timeout, log: node.log}
}

// store returns the bucket, making it (or checking it) on first use.
func (s *LeaseStore) store(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	js, err := jetstream.New(s.node.nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         s.bucket,
		Description:    "wsloop session leases: a.<auth_body> and i.<conn_id>",
		History:        1,
		TTL:            s.timeout,
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", s.bucket, err)
	}
	s.kv = kv
	return kv, nil
}

func (s *LeaseStore) op() (context.Context, context.CancelFunc, jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	kv, err := s.store(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, cancel, kv, nil
}

// Put implements lease.Shared.
func (s *LeaseStore) Put(r lease.Record) error {
	ctx, cancel, kv, err := s.op()
	if err != nil {
		return err
	}
	defer cancel()
	v, _ := json.Marshal(r)
	if _, err := kv.Create(ctx, "i."+r.ID, v); err != nil {
		return err
	}
	_, err = kv.Create(ctx, "a."+r.Auth, v)
	return err
}

// get returns the record of the live lease called id, or nil.
func (s *LeaseStore) get(ctx context.Context, kv jetstream.KeyValue, id string) (*lease.Record, error) {
	if strings.ContainsAny(id, ".*> \t") || id == "" {
		return nil, nil // not a token this store makes
	}
	e, err := kv.Get(ctx, "i."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r lease.Record
	if json.Unmarshal(e.Value(), &r) != nil || r.Auth == "" {
		return nil, nil
	}
	return &r, nil
}

// Refresh implements lease.Shared: both keys written again.
func (s *LeaseStore) Refresh(id string) (bool, error) {
	return s.withRecord(id, func(ctx context.Context, kv jetstream.KeyValue, r *lease.Record) error {
		v, _ := json.Marshal(r)
		for _, key := range []string{"a." + r.Auth, "i." + r.ID} {
			if _, err := kv.Put(ctx, key, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Remove implements lease.Shared: both keys deleted; the auth_body's
// deletion is what every node's watcher sees.
func (s *LeaseStore) Remove(id string) (bool, error) {
	return s.withRecord(id, func(ctx context.Context, kv jetstream.KeyValue, r *lease.Record) error {
		for _, key := range []string{"a." + r.Auth, "i." + r.ID} {
			if err := kv.Delete(ctx, key); err != nil {
				return err
			}
		}
		return nil
	})
}

// withRecord runs fn on the live lease called id, within one operation's
// time; it reports false when there is no such lease.
func (s *LeaseStore) withRecord(id string, fn func(context.Context, jetstream.KeyValue, *lease.Record) error) (bool, error) {
	ctx, cancel, kv, err := s.op()
	if err != nil {
		return false, err
	}
	defer cancel()
	r, err := s.get(ctx, kv, id)
	if r == nil || err != nil {
		return false, err
	}
	if err := fn(ctx, kv, r); err != nil {
		return false, err
	}
	return true, nil
}

// Watch implements lease.Shared. It runs until Close on its own
// goroutine, waiting for JetStream while it is unavailable and watching
// again after a failure.
func (s *LeaseStore) Watch(fn func(lease.Change)) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	go func() {
		warned := false
		for ctx.Err() == nil {
			err := s.watch(ctx, fn)
			if ctx.Err() != nil || s.node.closed() {
				return // closed: nothing to watch, nothing to say
			}
			if !warned {
				s.log.Warn("lease bucket not watched; retrying", "bucket", s.bucket, "err", err)
				warned = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return nil
}

func (s *LeaseStore) watch(ctx context.Context, fn func(lease.Change)) error {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	kv, err := s.store(octx)
	cancel()
	if err != nil {
		return err
	}
	w, err := kv.Watch(ctx, "a.*")
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watcher stopped")
			}
			if e == nil {
				continue // the current leases have all been seen
			}
			auth := strings.TrimPrefix(e.Key(), "a.")
			switch e.Operation() {
			case jetstream.KeyValuePut:
				var r lease.Record
				if json.Unmarshal(e.Value(), &r) == nil && r.Auth == auth {
					fn(lease.Change{Record: r})
				}
			case jetstream.KeyValueDelete:
				fn(lease.Change{Record: lease.Record{Auth: auth}, Gone: true, Ended: true})
			case jetstream.KeyValuePurge: // the key aged out (a MaxAge marker)
				fn(lease.Change{Record: lease.Record{Auth: auth}, Gone: true})
			}
		}
	}
}

// Close implements lease.Shared.
func (s *LeaseStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}
