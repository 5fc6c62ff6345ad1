package eventstore

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Upcaster turns the JSON of payload version From into that of version From+1.
type Upcaster struct {
	From uint32
	Up   func(json.RawMessage) (json.RawMessage, error)
}

// Registry maps stable event type names to Go payload types, with their current payload version
// and the upcasters that bring older versions to it. It is a value built at wiring time (no
// global state); once built it is read-only and safe for concurrent use.
type Registry struct {
	byName map[string]*registration
	byType map[reflect.Type]*registration
}

type registration struct {
	name    string
	goType  reflect.Type
	version uint32
	up      map[uint32]Upcaster
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]*registration{}, byType: map[reflect.Type]*registration{}}
}

// Register binds the payload type T to the event type name at payload version version (from 1).
// upcasters must cover every older version, 1 to version-1, exactly once. The name, not T's Go
// name, is what is stored: renaming T changes nothing in the log.
func Register[T any](r *Registry, name string, version uint32, upcasters ...Upcaster) error {
	return r.register(reflect.TypeFor[T](), name, version, upcasters)
}

// RegisterValue is Register for a payload type known by a value of it (its zero value, say), for
// callers that hold a list of event types rather than type parameters.
func (r *Registry) RegisterValue(name string, version uint32, sample any, upcasters ...Upcaster) error {
	if sample == nil {
		return fmt.Errorf("%w: register %s: nil sample", ErrInvalidArgument, name)
	}
	return r.register(reflect.TypeOf(sample), name, version, upcasters)
}

func (r *Registry) register(t reflect.Type, name string, version uint32, upcasters []Upcaster) error {
	switch {
	case name == "" || name[0] == '$':
		return fmt.Errorf("%w: register %v: type name %q is empty or reserved", ErrInvalidArgument, t, name)
	case version == 0:
		return fmt.Errorf("%w: register %s: version must be at least 1", ErrInvalidArgument, name)
	case r.byName[name] != nil:
		return fmt.Errorf("%w: register %s: name already registered for %v", ErrInvalidArgument, name, r.byName[name].goType)
	case r.byType[t] != nil:
		return fmt.Errorf("%w: register %s: %v already registered as %s", ErrInvalidArgument, name, t, r.byType[t].name)
	}
	reg := &registration{name: name, goType: t, version: version, up: map[uint32]Upcaster{}}
	for _, u := range upcasters {
		if u.From == 0 || u.From >= version || u.Up == nil {
			return fmt.Errorf("%w: register %s: upcaster from version %d does not lead below %d", ErrInvalidArgument, name, u.From, version)
		}
		if _, dup := reg.up[u.From]; dup {
			return fmt.Errorf("%w: register %s: two upcasters from version %d", ErrInvalidArgument, name, u.From)
		}
		reg.up[u.From] = u
	}
	for v := uint32(1); v < version; v++ {
		if _, ok := reg.up[v]; !ok {
			return fmt.Errorf("%w: register %s: no upcaster from version %d", ErrInvalidArgument, name, v)
		}
	}
	r.byName[name], r.byType[t] = reg, reg
	return nil
}

// Encode builds the EventData of a registered payload. The caller supplies the ID (UUIDv7; see
// NewEventID) and metadata: nothing here reads a clock or generates randomness.
func (r *Registry) Encode(id [16]byte, payload any, meta Metadata) (EventData, error) {
	t := reflect.TypeOf(payload)
	reg := r.byType[t]
	if reg == nil {
		return EventData{}, fmt.Errorf("%w: encode: %v is not registered", ErrUnknownEventType, t)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	return EventData{ID: id, Type: reg.name, PayloadVersion: reg.version, Data: data, Metadata: meta}, nil
}

// Decode returns the payload of a recorded event as a value of its registered Go type, upcast
// from older payload versions. An unregistered type, or a payload version newer than the
// registration (written by a newer idstream), is ErrUnknownEventType, never a guess; a payload
// that neither upcasts nor fits its type is ErrCorrupt.
func (r *Registry) Decode(e RecordedEvent) (any, error) {
	reg := r.byName[e.Type]
	if reg == nil {
		return nil, fmt.Errorf("%w: decode %s@%d: %q is not registered", ErrUnknownEventType, e.Stream, e.Revision, e.Type)
	}
	data := e.Data
	if e.PayloadVersion > reg.version {
		return nil, fmt.Errorf("%w: decode %s@%d: %s payload version %d is newer than this build's %d (written by a newer idstream)",
			ErrUnknownEventType, e.Stream, e.Revision, e.Type, e.PayloadVersion, reg.version)
	}
	for v := max(e.PayloadVersion, 1); v < reg.version; v++ {
		var err error
		if data, err = reg.up[v].Up(data); err != nil {
			return nil, fmt.Errorf("%w: decode %s@%d: upcast %s from version %d: %v", ErrCorrupt, e.Stream, e.Revision, e.Type, v, err)
		}
	}
	p := reflect.New(reg.goType)
	if len(data) > 0 {
		if err := json.Unmarshal(data, p.Interface()); err != nil {
			return nil, fmt.Errorf("%w: decode %s@%d: %s: %v", ErrCorrupt, e.Stream, e.Revision, e.Type, err)
		}
	}
	return p.Elem().Interface(), nil
}

// Version returns the current payload version registered for name.
func (r *Registry) Version(name string) (uint32, bool) {
	if reg := r.byName[name]; reg != nil {
		return reg.version, true
	}
	return 0, false
}
