package embedded

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/idstream/idstream/eventstore"
)

// Record value layout:
//
//	crc32c:4   over the key's 8 position bytes and everything after this field
//	revision:8
//	recordedAt:8 (unix nanoseconds: a commit time, always within 1678-2262)
//	occurredAt:8+4 (unix seconds, then nanoseconds with bit 31 set when the time is not zero:
//	           every instant of years 1-9999 round-trips, the Unix epoch included)
//	payloadVersion:uvarint
//	id:16
//	then uvarint-length-prefixed strings: stream, type, env, actor, correlation, causation
//	extraCount:uvarint, then that many key/value string pairs
//	data: the rest
const recordFixed = 4 + 8 + 8 + 8 + 4

const occurredSet = 1 << 31

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// eventKey returns the key of the event at pos.
func eventKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = 'e'
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func streamKeyPrefix(stream string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(stream)+8)
	k = append(k, 's')
	k = binary.AppendUvarint(k, uint64(len(stream)))
	return append(k, stream...)
}

func streamKey(prefix []byte, rev uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(prefix)+8), prefix...), rev)
}

func stateKey(stream string) []byte { return append([]byte{'m'}, stream...) }

// encodeBody encodes everything of e that the caller knows before the committer assigns a
// revision, position and time; the committer prepends the fixed header with appendRecord.
func encodeBody(stream string, e *eventstore.EventData) []byte {
	m := &e.Metadata
	n := binary.MaxVarintLen32 + 16 + 7*binary.MaxVarintLen64 + len(stream) + len(e.Type) +
		len(m.EnvironmentID) + len(m.Actor) + len(m.CorrelationID) + len(m.CausationID) + len(e.Data)
	for k, v := range m.Extra {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(e.PayloadVersion))
	b = append(b, e.ID[:]...)
	for _, s := range [...]string{stream, e.Type, m.EnvironmentID, m.Actor, m.CorrelationID, m.CausationID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Extra)))
	for k, v := range m.Extra {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return append(b, e.Data...)
}

// appendRecord builds the full record value for body at pos.
func appendRecord(dst []byte, pos, rev uint64, recordedAt, occurredAt time.Time, body []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, rev)
	dst = binary.BigEndian.AppendUint64(dst, uint64(recordedAt.UnixNano()))
	var sec int64
	var nsec uint32
	if !occurredAt.IsZero() {
		sec, nsec = occurredAt.Unix(), uint32(occurredAt.Nanosecond())|occurredSet
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(sec))
	dst = binary.BigEndian.AppendUint32(dst, nsec)
	dst = append(dst, body...)
	binary.BigEndian.PutUint32(dst[start:], recordCRC(pos, dst[start+4:]))
	return dst
}

func recordCRC(pos uint64, rest []byte) uint32 {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], pos)
	return crc32.Update(crc32.Checksum(k[:], castagnoli), castagnoli, rest)
}

func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// recordHead is the part of a record needed to filter it: decoded without allocating.
type recordHead struct {
	stream, typ []byte
}

// decoder decodes records. It interns stream and type names and environment and actor IDs,
// which repeat across events, so that a scan allocates little besides each event's data.
//
// Decoded data and correlation IDs are carved from a shared slab rather than allocated one by
// one; each event's Data has its capacity capped so that appending to it cannot reach its
// neighbours'. Nothing ever writes into the string regions of a slab.
type decoder struct {
	intern map[string]string
	recent [4][8]string // per field (stream, type, environment, actor), the last values seen
	next   [4]uint8
	slab   []byte
}

const slabSize = 32 << 10 // the largest size Go allocates as a small object

func newDecoder() *decoder { return &decoder{intern: make(map[string]string, 64)} }

func (d *decoder) str(field int, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for _, r := range &d.recent[field] {
		if r == unsafeString(b) {
			return r
		}
	}
	s, ok := d.intern[unsafeString(b)]
	if !ok {
		s = string(b)
		if len(d.intern) < 4096 {
			d.intern[s] = s
		}
	}
	d.recent[field][d.next[field]%8] = s
	d.next[field]++
	return s
}

// carve2 is carve of a and b concatenated.
func (d *decoder) carve2(a, b []byte) []byte {
	if n := len(a) + len(b); n > cap(d.slab)-len(d.slab) {
		if n > slabSize/4 {
			return append(append(make([]byte, 0, n), a...), b...)
		}
		d.slab = make([]byte, 0, slabSize)
	}
	start := len(d.slab)
	d.slab = append(append(d.slab, a...), b...)
	return d.slab[start:len(d.slab):len(d.slab)]
}

// carve copies b into the slab and returns the copy, capacity capped at its length.
func (d *decoder) carve(b []byte) []byte {
	if len(b) > cap(d.slab)-len(d.slab) {
		if len(b) > slabSize/4 {
			return append([]byte(nil), b...)
		}
		d.slab = make([]byte, 0, slabSize)
	}
	start := len(d.slab)
	d.slab = append(d.slab, b...)
	return d.slab[start:len(d.slab):len(d.slab)]
}

type reader struct {
	b   []byte
	off int
	err bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.err = true
		return 0
	}
	r.off += n
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err || n > uint64(len(r.b)-r.off) {
		r.err = true
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) lstring() []byte { return r.bytes(r.uvarint()) }

func corrupt(pos uint64, what string) error {
	return fmt.Errorf("%w: event record at position %d: %s", eventstore.ErrCorrupt, pos, what)
}

// decodeHead decodes the stream and type of the record at pos after checking its checksum.
func decodeHead(pos uint64, v []byte) (recordHead, reader, error) {
	return decodeHeadCheck(pos, v, true)
}

// decodeHeadCheck is decodeHead with the record checksum optional. Scans of the log skip it:
// the engine has checked the checksum of every block it read from disk, and a record read in a
// scan sits at the key it was written under. Point reads and Verify check it.
func decodeHeadCheck(pos uint64, v []byte, checksum bool) (recordHead, reader, error) {
	if len(v) < recordFixed {
		return recordHead{}, reader{}, corrupt(pos, "shorter than its header")
	}
	if checksum && recordCRC(pos, v[4:]) != binary.BigEndian.Uint32(v) {
		return recordHead{}, reader{}, corrupt(pos, "checksum mismatch")
	}
	r := reader{b: v, off: recordFixed}
	r.uvarint()
	r.bytes(16)
	h := recordHead{stream: r.lstring(), typ: r.lstring()}
	if r.err {
		return recordHead{}, reader{}, corrupt(pos, "truncated header")
	}
	return h, r, nil
}

// decode returns the full event at pos. Data is copied: v may be reused by the engine.
func (d *decoder) decode(pos uint64, v []byte, h recordHead, r reader) (eventstore.RecordedEvent, error) {
	var e eventstore.RecordedEvent
	e.Position = eventstore.Position{Commit: pos, Prepare: pos}
	e.Revision = binary.BigEndian.Uint64(v[4:])
	e.RecordedAt = timeOrZero(int64(binary.BigEndian.Uint64(v[12:])))
	if nsec := binary.BigEndian.Uint32(v[28:]); nsec&occurredSet != 0 {
		nsec &^= occurredSet
		if nsec >= 1e9 {
			return e, corrupt(pos, "occurred-at nanoseconds out of range")
		}
		e.Metadata.OccurredAt = time.Unix(int64(binary.BigEndian.Uint64(v[20:])), int64(nsec)).UTC()
	}
	r2 := reader{b: v, off: recordFixed}
	e.PayloadVersion = uint32(r2.uvarint())
	copy(e.ID[:], r2.bytes(16))
	e.Stream, e.Type = d.str(0, h.stream), d.str(1, h.typ)
	e.Metadata.EnvironmentID = d.str(2, r.lstring())
	e.Metadata.Actor = d.str(3, r.lstring())
	corr, cause := r.lstring(), r.lstring()
	if n := len(corr) + len(cause); n > 0 && !r.err {
		s := unsafeString(d.carve2(corr, cause))
		e.Metadata.CorrelationID, e.Metadata.CausationID = s[:len(corr)], s[len(corr):]
	}
	if n := r.uvarint(); n > 0 && !r.err {
		if n > uint64(len(v)) {
			return e, corrupt(pos, "extra metadata count out of range")
		}
		e.Metadata.Extra = make(map[string]string, n)
		for range n {
			k, val := r.lstring(), r.lstring()
			e.Metadata.Extra[string(k)] = string(val)
		}
	}
	if r.err || r2.err {
		return e, corrupt(pos, "truncated body")
	}
	if rest := v[r.off:]; len(rest) > 0 {
		e.Data = d.carve(rest)
	}
	return e, nil
}
