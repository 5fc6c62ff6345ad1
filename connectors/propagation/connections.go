package propagation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"sync"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// connections opens one connector per store configuration and keeps it while the
// configuration stays the same: a store whose configuration or credentials changed in a newer
// revision gets a new connector, and the old one is closed. Safe for concurrent use.
type connections struct {
	factories connectors.Factories
	open      func(domain.PropagationStore) (map[string]string, error)

	mu    sync.Mutex
	conns map[string]*conn // by slot (connSlot)
}

type conn struct {
	key string
	c   connectors.Connector
	f   connectors.Features
}

func newConnections(f connectors.Factories, open func(domain.PropagationStore) (map[string]string, error)) *connections {
	return &connections{factories: f, open: open, conns: map[string]*conn{}}
}

// storeKey identifies a store's configuration (credentials by their ciphertext).
func storeKey(s domain.PropagationStore) string {
	b, _ := json.Marshal(struct {
		T domain.StoreType
		C map[string]string
		K string
	}{s.Type, s.Config, s.Credentials})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// connSlot names the connector of a rule's target: the store's own, shared by every rule that
// does not override its configuration, or the rule's when its TargetConfig does (an LDAP rule
// with its own base DN).
func connSlot(r domain.PropagationRule) string {
	if len(r.TargetConfig) == 0 {
		return r.TargetStoreID
	}
	return r.TargetStoreID + "/" + r.ID
}

// withTargetConfig returns store s with rule r's target configuration merged over its own.
func withTargetConfig(s domain.PropagationStore, r domain.PropagationRule) domain.PropagationStore {
	if len(r.TargetConfig) == 0 || s.ID == "" {
		return s
	}
	cfg := make(map[string]string, len(s.Config)+len(r.TargetConfig))
	maps.Copy(cfg, s.Config)
	maps.Copy(cfg, r.TargetConfig)
	s.Config = cfg
	return s
}

// get returns the connector of store s as configured, in slot (connSlot). Opening errors are
// classified (connectors.ClassInvalid for a bad configuration).
func (cs *connections) get(slot string, s domain.PropagationStore) (*conn, error) {
	key := storeKey(s)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.conns[slot]; ok {
		if c.key == key {
			return c, nil
		}
		_ = c.c.Close()
		delete(cs.conns, slot)
	}
	var creds map[string]string
	if s.Credentials != "" && cs.open != nil {
		var err error
		if creds, err = cs.open(s); err != nil {
			return nil, &connectors.Error{Class: connectors.ClassInvalid, Op: "open credentials of store " + s.ID, Err: err}
		}
	}
	c, err := cs.factories.Open(connectors.StoreConfig{StoreID: s.ID, Type: s.Type, Config: s.Config, Credentials: creds})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", s.ID, err)
	}
	cn := &conn{key: key, c: c, f: connectors.FeaturesOf(c)}
	cs.conns[slot] = cn
	return cn, nil
}

// close closes every connector.
func (cs *connections) close() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for id, c := range cs.conns {
		_ = c.c.Close()
		delete(cs.conns, id)
	}
}
