package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
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
	byName   map[string]*registration
	byType   map[reflect.Type]*registration
	keys     SubjectKeys // nil: personal data is written in the clear
	cache    keyCache
	erasures atomic.Uint64 // see ErasureEpoch
	erasedMu sync.Mutex
	erasedAt Position // the newest erasure event decoded
}

type registration struct {
	name     string
	goType   reflect.Type
	version  uint32
	up       map[uint32]Upcaster
	personal *personalFields // nil: the type holds no personal data
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
	personal, err := personalOf(t)
	if err != nil {
		return fmt.Errorf("register %s: %w", name, err)
	}
	reg := &registration{name: name, goType: t, version: version, up: map[uint32]Upcaster{}, personal: personal}
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
// NewEventID) and metadata: nothing here reads a clock. Personal data is sealed with its
// subject's key (see SubjectKeys), created when the subject has none yet.
func (r *Registry) Encode(id [16]byte, payload any, meta Metadata) (EventData, error) {
	return r.EncodeContext(context.Background(), id, payload, meta)
}

// EncodeContext is Encode with a context for the key store.
func (r *Registry) EncodeContext(ctx context.Context, id [16]byte, payload any, meta Metadata) (EventData, error) {
	t := reflect.TypeOf(payload)
	reg := r.byType[t]
	if reg == nil {
		return EventData{}, fmt.Errorf("%w: encode: %v is not registered", ErrUnknownEventType, t)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	if reg.personal != nil && r.keys != nil {
		if data, err = r.sealPersonal(ctx, reg, reflect.ValueOf(payload), data); err != nil {
			return EventData{}, err
		}
	}
	return EventData{ID: id, Type: reg.name, PayloadVersion: reg.version, Data: data, Metadata: meta}, nil
}

// Decode returns the payload of a recorded event as a value of its registered Go type, upcast
// from older payload versions. An unregistered type, or a payload version newer than the
// registration (written by a newer idstream), is ErrUnknownEventType, never a guess; a payload
// that neither upcasts nor fits its type is ErrCorrupt. Personal data of a forgotten subject
// decodes as zero values (DecodeEvent says so).
func (r *Registry) Decode(e RecordedEvent) (any, error) {
	d, err := r.DecodeEvent(e)
	return d.Payload, err
}

// Decoded is a decoded payload.
type Decoded struct {
	Payload any
	// Erased: the payload held personal data of a forgotten subject (its key was destroyed);
	// those fields are zero.
	Erased bool
}

// DecodeEvent is Decode, also saying whether personal data was erased.
func (r *Registry) DecodeEvent(e RecordedEvent) (Decoded, error) {
	reg := r.byName[e.Type]
	if reg == nil {
		return Decoded{}, fmt.Errorf("%w: decode %s@%d: %q is not registered", ErrUnknownEventType, e.Stream, e.Revision, e.Type)
	}
	data := e.Data
	if e.PayloadVersion > reg.version {
		return Decoded{}, fmt.Errorf("%w: decode %s@%d: %s payload version %d is newer than this build's %d (written by a newer idstream)",
			ErrUnknownEventType, e.Stream, e.Revision, e.Type, e.PayloadVersion, reg.version)
	}
	// Upcasters and the payload type see the personal members in the clear, as they were written.
	data, subject, erased, err := r.clear(&e, data)
	if err != nil {
		return Decoded{}, personalDecodeError(&e, err)
	}
	for v := max(e.PayloadVersion, 1); v < reg.version; v++ {
		var err error
		if data, err = reg.up[v].Up(data); err != nil {
			return Decoded{}, fmt.Errorf("%w: decode %s@%d: upcast %s from version %d: %v", ErrCorrupt, e.Stream, e.Revision, e.Type, v, err)
		}
	}
	p := reflect.New(reg.goType)
	if len(data) > 0 {
		if err := json.Unmarshal(data, p.Interface()); err != nil {
			return Decoded{}, fmt.Errorf("%w: decode %s@%d: %s: %v", ErrCorrupt, e.Stream, e.Revision, e.Type, err)
		}
	}
	if subject != "" && reg.personal != nil {
		if s := p.Elem().Field(reg.personal.subject).String(); s != subject {
			return Decoded{}, personalDecodeError(&e, fmt.Errorf("sealed personal data of subject %s on an event of subject %s", subject, s))
		}
	}
	payload := p.Elem().Interface()
	if f, ok := payload.(Forgetting); ok {
		r.noteErasure(e.Position)
		r.Forget(f.ForgottenSubject())
	}
	return Decoded{Payload: payload, Erased: erased}, nil
}

// personalDecodeError: a key store that does not answer is ErrUnavailable; anything else about
// sealed data is ErrCorrupt.
func personalDecodeError(e *RecordedEvent, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("decode %s@%d: %s: %w", e.Stream, e.Revision, e.Type, err)
	}
	return fmt.Errorf("%w: decode %s@%d: %s: %v", ErrCorrupt, e.Stream, e.Revision, e.Type, err)
}

// Version returns the current payload version registered for name.
func (r *Registry) Version(name string) (uint32, bool) {
	if reg := r.byName[name]; reg != nil {
		return reg.version, true
	}
	return 0, false
}
