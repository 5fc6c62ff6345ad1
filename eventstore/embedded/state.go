package embedded

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/idstream/idstream/eventstore"
)

// streamState is the state of one stream: its 'm' key holds deletion and metadata, written only
// when they change; next comes from the stream index (its last batch), so an append writes no
// state key.
type streamState struct {
	next         uint64 // next revision to write; 0 = never written (not stored)
	hiddenBefore uint64 // set by soft delete: lower revisions are deleted
	tombstoned   bool
	metaNext     uint64 // next metadata revision; 0 = no metadata
	meta         eventstore.StreamMetadata
}

// exists reports whether the stream has events that are not soft-deleted.
func (s *streamState) exists() bool { return !s.tombstoned && s.next > s.hiddenBefore }

const stateLen = 8 + 1 + 8 + 8 + 8 + 1 + 8

func (s *streamState) encode() []byte {
	b := make([]byte, 0, stateLen)
	b = binary.BigEndian.AppendUint64(b, s.hiddenBefore)
	var flags byte
	if s.tombstoned {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, s.metaNext)
	b = binary.BigEndian.AppendUint64(b, uint64(s.meta.MaxAge))
	b = binary.BigEndian.AppendUint64(b, s.meta.MaxCount)
	if s.meta.TruncateBefore != nil {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, *s.meta.TruncateBefore)
	} else {
		b = append(b, 0)
		b = binary.BigEndian.AppendUint64(b, 0)
	}
	return b
}

func decodeState(stream string, b []byte) (streamState, error) {
	if len(b) != stateLen {
		return streamState{}, fmt.Errorf("%w: state of stream %q: %d bytes, want %d", eventstore.ErrCorrupt, stream, len(b), stateLen)
	}
	s := streamState{
		hiddenBefore: binary.BigEndian.Uint64(b),
		tombstoned:   b[8]&1 != 0,
		metaNext:     binary.BigEndian.Uint64(b[9:]),
	}
	s.meta.MaxAge = time.Duration(binary.BigEndian.Uint64(b[17:]))
	s.meta.MaxCount = binary.BigEndian.Uint64(b[25:])
	if b[33] == 1 {
		tb := binary.BigEndian.Uint64(b[34:])
		s.meta.TruncateBefore = &tb
	}
	return s, nil
}

// visibleFrom returns the lowest revision that stream metadata and deletion leave readable
// (ignoring MaxAge, which depends on each event's time).
func (s *streamState) visibleFrom() uint64 {
	lo := s.hiddenBefore
	if tb := s.meta.TruncateBefore; tb != nil && *tb > lo {
		lo = *tb
	}
	if c := s.meta.MaxCount; c > 0 && s.next > c && s.next-c > lo {
		lo = s.next - c
	}
	return lo
}
