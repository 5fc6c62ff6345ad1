package esdb

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"

	"github.com/idstream/idstream/eventstore"
)

// Stream metadata lives in EventStoreDB's metastream $$<stream>, whose newest $metadata event
// rules the stream. The server writes there too: a soft delete sets $tb to the deleted marker
// (math.MaxInt64), and the first append after it sets $tb to the revival's first revision.
// So a metadata event of ours carries, besides the values the server enforces, private keys
// that keep the caller's metadata apart from the server's:
//
//   - "$maxAge", "$maxCount": the caller's values, enforced by the server;
//   - "$tb": max(the caller's TruncateBefore, the deletion floor): what the server enforces,
//     so that writing metadata never brings soft-deleted events back, and keeps a
//     soft-deleted stream deleted;
//   - "idstream.rev": the revision of the caller's metadata: 0 for the first
//     SetStreamMetadata, counting only those writes, never the server's deletion and revival
//     records (so it agrees with every other backend);
//   - "idstream.tb": the caller's TruncateBefore, absent when unset;
//   - "idstream.floor": the deletion floor carried over (absent when there is none);
//   - "idstream.at": the $$ revision of this event. The server copies our keys into the
//     records it writes; a newest record whose revision is not its "idstream.at" was written
//     by the server, and its "$tb" is then the new deletion floor.
//
// GetStreamMetadata reports the caller's metadata only: found is false until the caller
// writes some, whatever the server wrote to $$<stream>.

// wireStreamMeta is a $metadata event's data as far as this backend reads it.
type wireStreamMeta struct {
	MaxAge   *int64 `json:"$maxAge,omitempty"`
	MaxCount *int64 `json:"$maxCount,omitempty"`
	TB       *int64 `json:"$tb,omitempty"`

	Rev    *int64 `json:"idstream.rev,omitempty"`
	UserTB *int64 `json:"idstream.tb,omitempty"`
	Floor  *int64 `json:"idstream.floor,omitempty"`
	At     *int64 `json:"idstream.at,omitempty"`
}

// ours reports whether w, read at revision rev of the metastream, is a write of this backend
// with the caller's metadata in it (and not a server record carrying copies of our keys).
func (w *wireStreamMeta) ours(rev uint64) bool {
	return w.Rev != nil && w.At != nil && *w.At >= 0 && uint64(*w.At) == rev
}

// metaState is what the metastream of a stream says now.
type metaState struct {
	rawExists bool
	rawRev    uint64 // revision of the metastream's newest event
	floor     *int64 // the $tb deletion and revival impose, if any
	user      *userMeta
}

// userMeta is the caller's newest metadata and its revision.
type userMeta struct {
	rev  uint64
	meta eventstore.StreamMetadata
}

// metaScan bounds how far back in a metastream the caller's newest write is looked for (the
// server writes at most two records, deletion and revival, per soft delete).
const metaScan = 4096

// loadMeta reads the metastream of stream, newest first.
func (s *Store) loadMeta(ctx context.Context, stream string) (metaState, error) {
	var st metaState
	for e, err := range s.readRaw(ctx, "$$"+stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: metaScan}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return metaState{}, nil
		}
		if err != nil {
			return metaState{}, err
		}
		w, err := decodeMetaRecord(stream, e.Revision, e.Data)
		if err != nil {
			return metaState{}, err
		}
		if !st.rawExists {
			st.rawExists, st.rawRev = true, e.Revision
			if w.ours(e.Revision) {
				st.floor = w.Floor
			} else {
				st.floor = w.TB // the server's record (or a foreign tool's): its $tb holds
			}
		}
		if w.Rev != nil && *w.Rev >= 0 {
			st.user = &userMeta{rev: uint64(*w.Rev), meta: userView(w)}
			return st, nil
		}
	}
	return st, nil
}

// SetStreamMetadata writes a $metadata event to $$stream. expected applies to the revisions of
// the caller's metadata (see the comment at the top of this file); the write itself expects
// the metastream's revision just read, and is tried again when the server wrote there in
// between (a concurrent delete or revival, or another metadata write, which then decides).
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	w, err := wireOf(stream, meta)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		st, err := s.loadMeta(ctx, stream)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("set metadata of %q: %w", stream, err)
		}
		exists, last := st.user != nil, uint64(0)
		if exists {
			last = st.user.rev
		}
		if !expected.Check(exists, last) {
			return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, ActualExists: exists, ActualRevision: last}
		}
		next, at, raw := uint64(0), int64(0), eventstore.NoStream
		if exists {
			next = last + 1
		}
		if st.rawExists {
			at, raw = int64(st.rawRev)+1, eventstore.Exact(st.rawRev)
		}
		rec := w
		rev := int64(next)
		rec.Rev, rec.At, rec.Floor = &rev, &at, st.floor
		rec.TB = effectiveTB(w.UserTB, st.floor)
		data, err := json.Marshal(rec)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("%w: set metadata of %q: %v", eventstore.ErrInvalidArgument, stream, err)
		}
		id, err := eventstore.NewEventID(rand.Reader)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		msg := &api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: &api.AppendReq_ProposedMessage{
			Id:       structuredUUID(id),
			Metadata: map[string]string{"type": "$metadata", "content-type": "application/json"},
			Data:     data,
		}}}
		res, wrong, err := s.appendRaw(ctx, "set metadata of", "$$"+stream, raw, []*api.AppendReq{msg})
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if wrong == nil {
			return eventstore.AppendResult{NextExpectedRevision: next, Position: res.Position}, nil
		}
		if attempt >= 100 {
			return eventstore.AppendResult{}, fmt.Errorf("%w: set metadata of %q: the metastream changed under 100 attempts in a row", eventstore.ErrUnavailable, stream)
		}
	}
}

// effectiveTB is the $tb the server must enforce: the caller's TruncateBefore (below the
// deleted marker: a caller's value never reads as a deletion) and the deletion floor, the
// higher of the two.
func effectiveTB(user, floor *int64) *int64 {
	var tb *int64
	if user != nil {
		v := min(*user, math.MaxInt64-1)
		tb = &v
	}
	if floor != nil && *floor >= 0 && (tb == nil || *floor > *tb) {
		v := *floor
		tb = &v
	}
	return tb
}

// GetStreamMetadata returns the caller's newest metadata and its revision; found is false when
// the caller never wrote any (deletion records of the server are not metadata).
func (s *Store) GetStreamMetadata(ctx context.Context, stream string) (eventstore.StreamMetadata, uint64, bool, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.StreamMetadata{}, 0, false, err
	}
	st, err := s.loadMeta(ctx, stream)
	if err != nil {
		return eventstore.StreamMetadata{}, 0, false, err
	}
	if st.user == nil {
		return eventstore.StreamMetadata{}, 0, false, nil
	}
	return st.user.meta, st.user.rev, true, nil
}

// wireOf is the caller's part of the $metadata event that sets meta on stream. MaxAge is
// rounded up to whole seconds, EventStoreDB's resolution.
func wireOf(stream string, meta eventstore.StreamMetadata) (wireStreamMeta, error) {
	var w wireStreamMeta
	if meta.MaxAge < 0 || meta.MaxCount > math.MaxInt64 || (meta.TruncateBefore != nil && *meta.TruncateBefore > math.MaxInt64) {
		return w, fmt.Errorf("%w: set metadata of %q: value out of range", eventstore.ErrInvalidArgument, stream)
	}
	if meta.MaxAge > 0 {
		secs := int64(meta.MaxAge / time.Second) // rounded up without overflowing near the maximum
		if meta.MaxAge%time.Second != 0 {
			secs++
		}
		w.MaxAge = &secs
	}
	if meta.MaxCount > 0 {
		n := int64(meta.MaxCount)
		w.MaxCount = &n
	}
	if meta.TruncateBefore != nil {
		tb := int64(*meta.TruncateBefore)
		w.UserTB = &tb
	}
	return w, nil
}

// encodeStreamMeta is the data of a $metadata event that sets meta on stream with nothing of
// the server's to keep (its $tb is the caller's TruncateBefore).
func encodeStreamMeta(stream string, meta eventstore.StreamMetadata) ([]byte, error) {
	w, err := wireOf(stream, meta)
	if err != nil {
		return nil, err
	}
	w.TB, w.UserTB = w.UserTB, nil
	return json.Marshal(w)
}

// maxAgeSeconds is the largest $maxAge a time.Duration holds in whole seconds.
const maxAgeSeconds = int64(math.MaxInt64 / time.Second)

// decodeMetaRecord reads the $metadata event data of stream (revision rev of $$stream). Data
// that is not a JSON object with integers where EventStoreDB and this backend keep them is
// ErrCorrupt, named.
func decodeMetaRecord(stream string, rev uint64, data []byte) (wireStreamMeta, error) {
	var w wireStreamMeta
	if err := json.Unmarshal(data, &w); err != nil {
		return wireStreamMeta{}, corrupt("metadata of %q at revision %d: %v", stream, rev, err)
	}
	return w, nil
}

// decodeStreamMeta reads the caller's metadata from a $metadata event's data: a $maxAge over
// what a time.Duration holds (about 292 years) reads as the longest Duration: nothing expires
// either way. Values EventStoreDB treats as unset (zero or negative $maxAge and $maxCount, a
// negative $tb) are unset. TruncateBefore is "idstream.tb" in our writes, "$tb" in others.
func decodeStreamMeta(stream string, rev uint64, data []byte) (eventstore.StreamMetadata, error) {
	w, err := decodeMetaRecord(stream, rev, data)
	if err != nil {
		return eventstore.StreamMetadata{}, err
	}
	return userView(w), nil
}

// userView is the caller's metadata in w.
func userView(w wireStreamMeta) eventstore.StreamMetadata {
	var m eventstore.StreamMetadata
	if w.MaxAge != nil && *w.MaxAge > 0 {
		m.MaxAge = time.Duration(math.MaxInt64)
		if *w.MaxAge <= maxAgeSeconds {
			m.MaxAge = time.Duration(*w.MaxAge) * time.Second
		}
	}
	if w.MaxCount != nil && *w.MaxCount > 0 {
		m.MaxCount = uint64(*w.MaxCount)
	}
	tb := w.TB
	if w.Rev != nil {
		tb = w.UserTB
	}
	if tb != nil && *tb >= 0 {
		v := uint64(*tb)
		m.TruncateBefore = &v
	}
	return m
}
