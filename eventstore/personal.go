package eventstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Personal data in events is sealed with a key of its own subject (crypto-shredding): the log is
// append-only, so forgetting a subject means destroying its key, after which its events still
// decode — every field but the personal ones — and the log stays replayable.
//
// A payload type opts in with struct tags: `personal:"subject"` on the one string field naming
// the subject (a user's ID), `personal:"data"` on each field holding its personal data. Encode
// moves those fields out of the JSON object into one sealed member,
//
//	"$personal": {"v": 1, "s": "<subject>", "c": "<base64(nonce || AES-256-GCM ciphertext)>"}
//
// bound (as additional data) to the event type and the subject, so sealed data copied onto
// another event or subject does not open. Decode opens it with the subject's key; when the key
// was destroyed the personal fields decode as their zero values and DecodeEvent says so.
// A registry without SubjectKeys writes personal data in the clear (and reads both forms as far
// as it can: sealed data without keys decodes as erased).

// SubjectKeys holds the per-subject data keys. Implementations keep keys outside the log,
// wrapped by the operator's key, and make a destroyed key unrecoverable.
type SubjectKeys interface {
	// Keys returns the key of each subject in subjects. With create, a subject without a key is
	// given one, durably stored before Keys returns. A subject whose key was destroyed is absent
	// from the map and never gets a key again (with create too).
	Keys(ctx context.Context, subjects []string, create bool) (map[string][]byte, error)
	// Destroy destroys subject's key for good; destroying an absent key is not an error.
	Destroy(ctx context.Context, subject string) error
}

// ErrSubjectForgotten is returned by Encode for personal data of a subject whose key was
// destroyed: a forgotten subject's data is never written again.
var ErrSubjectForgotten = errors.New("subject forgotten: its personal data can no longer be recorded")

// Forgetting is implemented by the payload of the event that records a subject's erasure.
// Decoding one drops the subject's key from the registry's cache, so that a key destroyed in
// another process stops opening data here once its erasure event is read.
type Forgetting interface {
	ForgottenSubject() string
}

// SubjectKeySize is the size of a subject key: AES-256.
const SubjectKeySize = 32

const personalMember = "$personal"

// personalFields describes the personal fields of a payload type.
type personalFields struct {
	subject int      // field index of the subject
	fields  []int    // field indexes of the personal data
	names   []string // their JSON member names
}

func personalOf(t reflect.Type) (*personalFields, error) {
	if t.Kind() != reflect.Struct {
		return nil, nil
	}
	p := &personalFields{subject: -1}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("personal")
		if !ok {
			continue
		}
		name := f.Name
		if js, _, _ := strings.Cut(f.Tag.Get("json"), ","); js != "" && js != "-" {
			name = js
		}
		switch tag {
		case "subject":
			if f.Type.Kind() != reflect.String || p.subject >= 0 {
				return nil, fmt.Errorf("%w: %v: personal:\"subject\" must be on exactly one string field", ErrInvalidArgument, t)
			}
			p.subject = i
		case "data":
			if !f.IsExported() {
				return nil, fmt.Errorf("%w: %v.%s: personal data must be an exported field", ErrInvalidArgument, t, f.Name)
			}
			p.fields, p.names = append(p.fields, i), append(p.names, name)
		default:
			return nil, fmt.Errorf("%w: %v.%s: personal tag %q is neither subject nor data", ErrInvalidArgument, t, f.Name, tag)
		}
	}
	switch {
	case p.subject < 0 && len(p.fields) == 0:
		return nil, nil
	case p.subject < 0 || len(p.fields) == 0:
		return nil, fmt.Errorf("%w: %v: personal data needs one personal:\"subject\" field and at least one personal:\"data\" field", ErrInvalidArgument, t)
	}
	return p, nil
}

type sealedPersonal struct {
	V uint32 `json:"v"`
	S string `json:"s"`
	C string `json:"c"`
}

// keyCache keeps recently used subject keys (bounded: it forgets everything when full).
type keyCache struct {
	mu   sync.Mutex
	keys map[string]cipher.AEAD
}

const keyCacheSize = 1 << 16

func (c *keyCache) get(subject string) (cipher.AEAD, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.keys[subject]
	return a, ok
}

func (c *keyCache) put(subject string, a cipher.AEAD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= keyCacheSize {
		c.keys = make(map[string]cipher.AEAD, 1024)
	}
	c.keys[subject] = a
}

func (c *keyCache) drop(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, subject)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != SubjectKeySize {
		return nil, fmt.Errorf("%w: subject key of %d bytes, want %d", ErrCorrupt, len(key), SubjectKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// UseSubjectKeys makes the registry seal personal data with keys from k. Call it at wiring time,
// before the registry is used.
func (r *Registry) UseSubjectKeys(k SubjectKeys) { r.keys = k }

// Forget drops subject's key from the registry's cache (after the key was destroyed) and
// advances ErasureEpoch.
func (r *Registry) Forget(subject string) {
	r.cache.drop(subject)
	r.erasures.Add(1)
}

// LastErasure returns the position of the newest erasure event (see Forgetting) this registry
// decoded: state derived from the log before it (a snapshot, say) may hold erased data.
func (r *Registry) LastErasure() Position {
	r.erasedMu.Lock()
	defer r.erasedMu.Unlock()
	return r.erasedAt
}

func (r *Registry) noteErasure(pos Position) {
	r.erasedMu.Lock()
	defer r.erasedMu.Unlock()
	if r.erasedAt.Less(pos) {
		r.erasedAt = pos
	}
}

// ErasureEpoch counts the subjects this registry was told were forgotten: whoever caches what
// it decoded (past read models, say) drops the cache when the epoch moves.
func (r *Registry) ErasureEpoch() uint64 { return r.erasures.Load() }

// SealsPersonalData reports whether the registry seals personal data (it has SubjectKeys).
func (r *Registry) SealsPersonalData() bool { return r.keys != nil }

// DestroySubject destroys subject's key: its personal data, in every event written so far, can
// no longer be read. Without SubjectKeys it fails: nothing could be erased.
func (r *Registry) DestroySubject(ctx context.Context, subject string) error {
	if r.keys == nil {
		return fmt.Errorf("%w: no subject key store: personal data is not sealed and cannot be erased", ErrInvalidArgument)
	}
	if err := r.keys.Destroy(ctx, subject); err != nil {
		return fmt.Errorf("destroy the key of subject %s: %w", subject, err)
	}
	r.Forget(subject)
	return nil
}

// aead returns the cipher of subject's key (nil when it was destroyed or, without create, when
// it has none).
func (r *Registry) aead(ctx context.Context, subject string, create bool) (cipher.AEAD, error) {
	if a, ok := r.cache.get(subject); ok {
		return a, nil
	}
	keys, err := r.keys.Keys(ctx, []string{subject}, create)
	if err != nil {
		return nil, fmt.Errorf("%w: subject key store: key of %s: %w", ErrUnavailable, subject, err)
	}
	key, ok := keys[subject]
	if !ok {
		return nil, nil
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("subject key of %s: %w", subject, err)
	}
	r.cache.put(subject, a)
	return a, nil
}

// PrepareKeys makes sure every subject with personal data in payloads has a key (one call to
// the key store for all of them), so that encoding a batch does not create keys one by one.
// A forgotten subject is ErrSubjectForgotten.
func (r *Registry) PrepareKeys(ctx context.Context, payloads ...any) error {
	if r.keys == nil {
		return nil
	}
	var subjects []string
	seen := map[string]bool{}
	for _, p := range payloads {
		reg := r.byType[reflect.TypeOf(p)]
		if reg == nil || reg.personal == nil {
			continue
		}
		s := reflect.ValueOf(p).Field(reg.personal.subject).String()
		if _, cached := r.cache.get(s); !cached && !seen[s] {
			seen[s] = true
			subjects = append(subjects, s)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	keys, err := r.keys.Keys(ctx, subjects, true)
	if err != nil {
		return fmt.Errorf("subject keys: %w", err)
	}
	for _, s := range subjects {
		key, ok := keys[s]
		if !ok {
			return fmt.Errorf("%w (subject %s)", ErrSubjectForgotten, s)
		}
		a, err := newAEAD(key)
		if err != nil {
			return fmt.Errorf("subject key of %s: %w", s, err)
		}
		r.cache.put(s, a)
	}
	return nil
}

// sealPersonal replaces the personal members of data (the JSON of payload v) by one sealed
// member.
func (r *Registry) sealPersonal(ctx context.Context, reg *registration, v reflect.Value, data []byte) ([]byte, error) {
	subject := v.Field(reg.personal.subject).String()
	if subject == "" {
		return nil, fmt.Errorf("%w: encode %s: personal data without a subject", ErrInvalidArgument, reg.name)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	personal := make(map[string]json.RawMessage, len(reg.personal.names))
	for _, n := range reg.personal.names {
		if m, ok := obj[n]; ok {
			personal[n] = m
			delete(obj, n)
		}
	}
	if len(personal) == 0 {
		return data, nil
	}
	a, err := r.aead(ctx, subject, true)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	if a == nil {
		return nil, fmt.Errorf("encode %s: %w (subject %s)", reg.name, ErrSubjectForgotten, subject)
	}
	plain, err := json.Marshal(personal)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	sealed := a.Seal(nonce, nonce, plain, personalAAD(reg.name, subject))
	member, err := json.Marshal(sealedPersonal{V: 1, S: subject, C: base64.RawStdEncoding.EncodeToString(sealed)})
	if err != nil {
		return nil, err
	}
	obj[personalMember] = member
	return json.Marshal(obj)
}

func personalAAD(eventType, subject string) []byte {
	return []byte(eventType + "\x00" + subject)
}

// Clear returns e's payload JSON as it was before sealing (up to the order of members): the
// sealed member replaced by the personal members it holds — none when the subject was
// forgotten (erased). Decoders that do not go through Decode (the read model's own fast ones)
// start from it.
func (r *Registry) Clear(e *RecordedEvent) (data []byte, erased bool, err error) {
	data, _, erased, err = r.clear(e, e.Data)
	if err != nil {
		return nil, false, personalDecodeError(e, err)
	}
	return data, erased, nil
}

// clear is Clear of data (e's payload, perhaps already changed), also naming the sealed
// member's subject ("" when there is none).
func (r *Registry) clear(e *RecordedEvent, data []byte) (out []byte, subject string, erased bool, err error) {
	if !bytes.Contains(data, []byte(`"`+personalMember+`"`)) {
		return data, "", false, nil
	}
	if sp, rest, ok := sealedPrefix(data); ok {
		plain, erased, err := r.openSealed(e, &sp)
		if err != nil {
			return nil, "", false, err
		}
		return spliceClear(plain, rest, erased), sp.S, erased, nil
	}
	return r.mergePersonal(e, data)
}

// sealedPrefix reads the sealed member where Encode writes it — first, as
// {"$personal":{"v":1,"s":"…","c":"…"},… with no escapes in its strings — and returns it with
// what follows it (from the comma or the closing brace). ok is false for any other layout.
func sealedPrefix(data []byte) (sp sealedPersonal, rest []byte, ok bool) {
	const head = `{"` + personalMember + `":{"v":1,"s":"`
	if !bytes.HasPrefix(data, []byte(head)) {
		return sp, nil, false
	}
	b := data[len(head):]
	i := bytes.IndexByte(b, '"')
	if i <= 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return sp, nil, false
	}
	sp.V, sp.S, b = 1, string(b[:i]), b[i+1:]
	if !bytes.HasPrefix(b, []byte(`,"c":"`)) {
		return sp, nil, false
	}
	b = b[len(`,"c":"`):]
	if i = bytes.IndexByte(b, '"'); i < 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return sp, nil, false
	}
	sp.C, b = string(b[:i]), b[i+1:]
	if len(b) < 2 || b[0] != '}' || (b[1] != ',' && b[1] != '}') {
		return sp, nil, false
	}
	return sp, b[1:], true
}

// spliceClear joins the personal members (plain, a JSON object) and the other members (rest:
// ",…}" or "}").
func spliceClear(plain, rest []byte, erased bool) []byte {
	if erased || len(plain) < 2 || bytes.Equal(plain, []byte("{}")) {
		if rest[0] == ',' {
			rest = rest[1:]
		}
		return append([]byte{'{'}, rest...)
	}
	out := make([]byte, 0, len(plain)+len(rest))
	out = append(out, plain[:len(plain)-1]...)
	return append(out, rest...)
}

// mergePersonal returns data with its sealed member, if any, replaced by the personal members
// it holds (none when erased), and the member's subject.
func (r *Registry) mergePersonal(e *RecordedEvent, data []byte) ([]byte, string, bool, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, "", false, err
	}
	raw, ok := obj[personalMember]
	if !ok {
		return data, "", false, nil
	}
	var sp sealedPersonal
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, "", false, fmt.Errorf("sealed personal data: %v", err)
	}
	delete(obj, personalMember)
	plain, erased, err := r.openSealed(e, &sp)
	if err != nil {
		return nil, "", false, err
	}
	if !erased {
		var personal map[string]json.RawMessage
		if err := json.Unmarshal(plain, &personal); err != nil {
			return nil, "", false, err
		}
		for k, v := range personal {
			obj[k] = v
		}
	}
	out, err := json.Marshal(obj)
	return out, sp.S, erased, err
}

// openSealed opens sp, bound to e's type; erased when the subject's key is gone (or the
// registry has no key store).
func (r *Registry) openSealed(e *RecordedEvent, sp *sealedPersonal) (plain []byte, erased bool, err error) {
	if sp.V != 1 || sp.S == "" {
		return nil, false, fmt.Errorf("sealed personal data of version %d for subject %q", sp.V, sp.S)
	}
	if r.keys == nil {
		return nil, true, nil
	}
	a, err := r.aead(context.Background(), sp.S, false)
	if err != nil {
		return nil, false, err
	}
	if a == nil {
		return nil, true, nil
	}
	sealed, err := base64.RawStdEncoding.DecodeString(sp.C)
	if err != nil || len(sealed) < a.NonceSize() {
		return nil, false, fmt.Errorf("sealed personal data is not base64 of nonce and ciphertext")
	}
	ct := sealed[a.NonceSize():]
	plain, err = a.Open(ct[:0], sealed[:a.NonceSize()], ct, personalAAD(e.Type, sp.S)) // in place
	if err != nil {
		return nil, false, fmt.Errorf("sealed personal data does not open with subject %s's key: %v", sp.S, err)
	}
	return plain, false, nil
}

// NewSubjectKey returns a fresh random subject key.
func NewSubjectKey() ([]byte, error) {
	k := make([]byte, SubjectKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}
