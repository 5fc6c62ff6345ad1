package projections

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// DirectoryVersion is the version of the Directory's fold. Raise it whenever a change to the fold
// makes the same events give a different read model: snapshots of another version are refused
// (ErrSnapshotVersion) and the model is rebuilt from the log instead.
const DirectoryVersion = 2

// snapshotFormat is the version of the snapshot file layout itself.
const snapshotFormat = 1

var snapshotMagic = [8]byte{'I', 'D', 'S', 'N', 'A', 'P', 0, '\n'}

// snapshotHeaderSize: magic, format (u32), projection version (u32), commit, prepare (u64 each).
const snapshotHeaderSize = 8 + 4 + 4 + 8 + 8

// ErrSnapshotVersion is wrapped by ReadSnapshot's error for a snapshot of another projection
// version or file format: the caller should rebuild from the log instead.
var ErrSnapshotVersion = errors.New("snapshot of another version")

// ErrSnapshotCorrupt is wrapped by ReadSnapshot's error for a snapshot that is damaged,
// truncated or not a snapshot at all.
var ErrSnapshotCorrupt = errors.New("snapshot damaged")

// SnapshotInfo describes a snapshot written or read.
type SnapshotInfo struct {
	// Position is the Directory's checkpoint when the snapshot was taken.
	Position          eventstore.Position
	ProjectionVersion int
	Environments      int
	Users             int
	Groups            int
	// Bytes is the snapshot's size.
	Bytes int64
	// Pause is how long the Directory's read lock was held to copy references (writers wait
	// that long); WriteSnapshot only.
	Pause time.Duration
}

// The snapshot body is a gob stream of: snapMeta, then per environment a snapEnv followed by its
// users in batches of at most snapBatch (each a []*User), in ID order. Nothing in it is a map,
// so the same state always encodes to the same bytes (Checksum relies on that). A SHA-256 of
// header and body trails it.
const snapBatch = 4096

type snapMeta struct {
	Envs        int
	DeletedEnvs []string // sorted
	Pending     []snapPending
	Clients     []*APIClient // sorted by ID
	Tokens      []snapToken  // sorted by hash
}

type snapPending struct {
	EnvironmentID string
	Pops          []Population
}

type snapToken struct{ Hash, Client, Token string }

type snapEnv struct {
	Env    Environment
	Pops   []Population // sorted by ID (UserCount unset)
	Schema []domain.AttributeDef
	Groups []snapGroup // sorted by ID
	Users  int
	Erased []*User // forgotten users' stubs, sorted by ID
	// Derived state, only in Checksum's encoding: rebuilt on read.
	Clashes int
	AttrUse []snapCount
}

type snapCount struct {
	Name string
	N    int
}

type snapGroup struct {
	G        *Group
	Direct   []string // sorted
	Children []string // sorted
	Dynamic  []string // sorted; Checksum's encoding only
}

// capture is the Directory's state as references, taken under the read lock: users, groups
// and clients are immutable values, so encoding them later needs no lock.
type capture struct {
	pos  eventstore.Position
	meta snapMeta
	envs []capturedEnv
}

type capturedEnv struct {
	env   snapEnv
	users []*User
}

// capture copies references to d's state; derived adds what Checksum hashes beyond what a
// snapshot holds. It returns how long the read lock was held.
func (d *Directory) capture(derived bool) (*capture, time.Duration) {
	d.mu.RLock()
	start := time.Now()
	c := &capture{pos: d.pos}
	for id := range d.deletedEnvs {
		c.meta.DeletedEnvs = append(c.meta.DeletedEnvs, id)
	}
	for id, pops := range d.pendingPops {
		c.meta.Pending = append(c.meta.Pending, snapPending{EnvironmentID: id, Pops: popsSorted(pops)})
	}
	for _, cl := range d.clients {
		c.meta.Clients = append(c.meta.Clients, cl)
	}
	for h, ref := range d.tokens {
		c.meta.Tokens = append(c.meta.Tokens, snapToken{Hash: h, Client: ref.client, Token: ref.token})
	}
	c.envs = make([]capturedEnv, 0, len(d.envs))
	for _, s := range d.envs {
		ce := capturedEnv{env: snapEnv{Env: s.env, Pops: popsSorted(s.pops), Users: s.all.len()},
			users: make([]*User, 0, s.all.len())}
		ce.env.Schema = s.schema // replaced, never modified, on change
		for _, u := range s.erased {
			ce.env.Erased = append(ce.env.Erased, u)
		}
		s.all.each("", func(slot *userSlot) bool {
			ce.users = append(ce.users, slot.u)
			return true
		})
		ce.env.Groups = make([]snapGroup, 0, len(s.groups))
		for _, g := range s.groups {
			sg := snapGroup{G: g.g, Direct: setSorted(g.direct), Children: setSorted(g.children)}
			if derived {
				sg.Dynamic = setSorted(g.dynamic)
			}
			ce.env.Groups = append(ce.env.Groups, sg)
		}
		if derived {
			ce.env.Clashes = s.clashes
			for name, n := range s.attrUse {
				ce.env.AttrUse = append(ce.env.AttrUse, snapCount{Name: name, N: n})
			}
		}
		c.envs = append(c.envs, ce)
	}
	pause := time.Since(start)
	d.mu.RUnlock()

	slices.Sort(c.meta.DeletedEnvs)
	sort.Slice(c.meta.Pending, func(i, j int) bool { return c.meta.Pending[i].EnvironmentID < c.meta.Pending[j].EnvironmentID })
	sort.Slice(c.meta.Clients, func(i, j int) bool { return c.meta.Clients[i].ID < c.meta.Clients[j].ID })
	sort.Slice(c.meta.Tokens, func(i, j int) bool { return c.meta.Tokens[i].Hash < c.meta.Tokens[j].Hash })
	sort.Slice(c.envs, func(i, j int) bool { return c.envs[i].env.Env.ID < c.envs[j].env.Env.ID })
	for i := range c.envs {
		e := &c.envs[i].env
		sort.Slice(e.Groups, func(a, b int) bool { return e.Groups[a].G.ID < e.Groups[b].G.ID })
		sort.Slice(e.AttrUse, func(a, b int) bool { return e.AttrUse[a].Name < e.AttrUse[b].Name })
		sort.Slice(e.Erased, func(a, b int) bool { return e.Erased[a].ID < e.Erased[b].ID })
	}
	c.meta.Envs = len(c.envs)
	return c, pause
}

func popsSorted(m map[string]*popState) []Population {
	out := make([]Population, 0, len(m))
	for _, p := range m {
		out = append(out, p.p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func setSorted(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// encode writes c's body as a gob stream to w.
func (c *capture) encode(w io.Writer) (users, groups int, err error) {
	enc := gob.NewEncoder(w)
	if err := enc.Encode(&c.meta); err != nil {
		return 0, 0, err
	}
	for i := range c.envs {
		e := &c.envs[i]
		if err := enc.Encode(&e.env); err != nil {
			return 0, 0, err
		}
		for rest := e.users; len(rest) > 0; {
			n := min(len(rest), snapBatch)
			if err := enc.Encode(rest[:n]); err != nil {
				return 0, 0, err
			}
			rest = rest[n:]
		}
		users += len(e.users)
		groups += len(e.env.Groups)
	}
	return users, groups, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteSnapshot writes d's complete state (everything a query answers) to w, with a header
// naming the format, DirectoryVersion and d's position, and a trailing SHA-256 over all of it.
// It holds d's read lock only while copying references (SnapshotInfo.Pause); the encoding
// runs outside it, concurrently with Apply. It does not close or sync w.
func (d *Directory) WriteSnapshot(w io.Writer) (SnapshotInfo, error) {
	c, pause := d.capture(false)
	bw := bufio.NewWriterSize(w, 1<<16)
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(bw, h)}
	var hdr [snapshotHeaderSize]byte
	copy(hdr[:8], snapshotMagic[:])
	binary.BigEndian.PutUint32(hdr[8:], snapshotFormat)
	binary.BigEndian.PutUint32(hdr[12:], DirectoryVersion)
	binary.BigEndian.PutUint64(hdr[16:], c.pos.Commit)
	binary.BigEndian.PutUint64(hdr[24:], c.pos.Prepare)
	info := SnapshotInfo{Position: c.pos, ProjectionVersion: DirectoryVersion, Environments: len(c.envs), Pause: pause}
	if _, err := cw.Write(hdr[:]); err != nil {
		return info, fmt.Errorf("write snapshot: %w", err)
	}
	var err error
	if info.Users, info.Groups, err = c.encode(cw); err != nil {
		return info, fmt.Errorf("write snapshot: %w", err)
	}
	if _, err := bw.Write(h.Sum(nil)); err != nil {
		return info, fmt.Errorf("write snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("write snapshot: %w", err)
	}
	info.Bytes = cw.n + sha256.Size
	return info, nil
}

// hashReader feeds what gob consumes into a hash; being an io.ByteReader, gob reads through it
// without buffering ahead, so the trailer that follows the body stays unread.
type hashReader struct {
	r *bufio.Reader
	h hash.Hash
	n int64
}

func (r *hashReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	return n, err
}

func (r *hashReader) ReadByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err == nil {
		r.h.Write([]byte{b})
		r.n++
	}
	return b, err
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("read snapshot: %w: %s", ErrSnapshotCorrupt, fmt.Sprintf(format, args...))
}

// ReadSnapshot reads a snapshot written by WriteSnapshot and returns the Directory it holds,
// its indexes and dynamic groups rebuilt. It reads r to the snapshot's end and no further. A
// snapshot of another format or DirectoryVersion gives an error wrapping ErrSnapshotVersion; a
// damaged, truncated or foreign one an error wrapping ErrSnapshotCorrupt saying what is wrong
// (never a Directory).
func ReadSnapshot(r io.Reader) (*Directory, SnapshotInfo, error) {
	hr := &hashReader{r: bufio.NewReaderSize(r, 1<<16), h: sha256.New()}
	var hdr [snapshotHeaderSize]byte
	if _, err := io.ReadFull(hr, hdr[:]); err != nil {
		return nil, SnapshotInfo{}, corrupt("header: %v", err)
	}
	if !bytes.Equal(hdr[:8], snapshotMagic[:]) {
		return nil, SnapshotInfo{}, corrupt("not a snapshot (bad magic)")
	}
	info := SnapshotInfo{
		ProjectionVersion: int(binary.BigEndian.Uint32(hdr[12:])),
		Position:          eventstore.Position{Commit: binary.BigEndian.Uint64(hdr[16:]), Prepare: binary.BigEndian.Uint64(hdr[24:])},
	}
	if f := binary.BigEndian.Uint32(hdr[8:]); f != snapshotFormat {
		return nil, info, fmt.Errorf("read snapshot: %w: file format %d, this build reads %d", ErrSnapshotVersion, f, snapshotFormat)
	}
	if info.ProjectionVersion != DirectoryVersion {
		return nil, info, fmt.Errorf("read snapshot: %w: directory projection version %d, this build folds version %d",
			ErrSnapshotVersion, info.ProjectionVersion, DirectoryVersion)
	}
	d, err := decodeBody(gob.NewDecoder(hr), &info)
	if err != nil {
		return nil, info, err
	}
	want := hr.h.Sum(nil)
	var got [sha256.Size]byte
	if _, err := io.ReadFull(hr.r, got[:]); err != nil {
		return nil, info, corrupt("truncated before its checksum: %v", err)
	}
	if !bytes.Equal(want, got[:]) {
		return nil, info, corrupt("checksum mismatch (the body was altered)")
	}
	info.Bytes = hr.n + sha256.Size
	d.pos = info.Position
	return d, info, nil
}

// decodeBody rebuilds a Directory from the gob body. Any structural inconsistency is an error:
// the checksum has not been checked yet.
func decodeBody(dec *gob.Decoder, info *SnapshotInfo) (d *Directory, err error) {
	defer func() {
		if p := recover(); p != nil { // gob guards against malformed input; this is a last resort
			d, err = nil, corrupt("malformed body: %v", p)
		}
	}()
	var meta snapMeta
	if err := dec.Decode(&meta); err != nil {
		return nil, corrupt("directory record: %v", err)
	}
	if meta.Envs < 0 {
		return nil, corrupt("negative environment count")
	}
	d = NewDirectory()
	for _, id := range meta.DeletedEnvs {
		d.deletedEnvs[id] = struct{}{}
	}
	for _, p := range meta.Pending {
		pops := map[string]*popState{}
		for _, pop := range p.Pops {
			pops[pop.ID] = &popState{p: pop}
		}
		d.pendingPops[p.EnvironmentID] = pops
	}
	for _, c := range meta.Clients {
		if c == nil {
			return nil, corrupt("nil API client")
		}
		d.clients[c.ID] = c
	}
	for _, t := range meta.Tokens {
		d.tokens[t.Hash] = tokenRef{client: t.Client, token: t.Token}
	}
	for i := 0; i < meta.Envs; i++ {
		var se snapEnv
		if err := dec.Decode(&se); err != nil {
			return nil, corrupt("environment %d of %d: %v", i+1, meta.Envs, err)
		}
		if se.Users < 0 {
			return nil, corrupt("environment %s: negative user count", se.Env.ID)
		}
		s, err := restoreEnv(dec, &se)
		if err != nil {
			return nil, err
		}
		d.envs[s.env.ID] = s
		info.Users += se.Users
		info.Groups += len(se.Groups)
	}
	info.Environments = meta.Envs
	return d, nil
}

func restoreEnv(dec *gob.Decoder, se *snapEnv) (*envState, error) {
	s := &envState{env: se.Env,
		pops: map[string]*popState{}, users: map[string]*userSlot{}, byName: map[string]*userSlot{},
		byEmail: map[string]*userSlot{}, byExtID: map[string]*userSlot{}, attrUse: map[string]int{},
		groups: map[string]*groupState{}, inGroups: map[string][]string{}, erased: make(map[string]*User, len(se.Erased))}
	for _, u := range se.Erased {
		if u == nil || !u.Erased {
			return nil, corrupt("environment %s: a forgotten user that is not erased", s.env.ID)
		}
		s.erased[u.ID] = u
	}
	for _, p := range se.Pops {
		s.pops[p.ID] = &popState{p: p}
	}
	s.schema = se.Schema
	last := ""
	for n := 0; n < se.Users; {
		var batch []*User
		if err := dec.Decode(&batch); err != nil {
			return nil, corrupt("environment %s: users %d of %d: %v", s.env.ID, n+1, se.Users, err)
		}
		if len(batch) == 0 || len(batch) > se.Users-n {
			return nil, corrupt("environment %s: a batch of %d users where %d remain", s.env.ID, len(batch), se.Users-n)
		}
		for _, u := range batch {
			if u == nil || u.ID <= last {
				return nil, corrupt("environment %s: users out of order", s.env.ID)
			}
			last = u.ID
			u.EnvironmentID, u.PopulationID = s.env.ID, s.internPop(u.PopulationID)
			slot := &userSlot{id: u.ID, u: u}
			s.users[u.ID] = slot
			s.all.insert(slot)
			s.index(slot, u, true)
		}
		n += len(batch)
	}
	for _, sg := range se.Groups {
		if sg.G == nil {
			return nil, corrupt("environment %s: nil group", s.env.ID)
		}
		g := &groupState{g: sg.G, direct: map[string]struct{}{}, children: map[string]struct{}{}, parents: map[string]struct{}{}}
		for _, uid := range sg.Direct {
			g.direct[uid] = struct{}{}
			s.inGroups[uid] = append(s.inGroups[uid], g.g.ID)
		}
		s.groups[g.g.ID] = g
	}
	for _, sg := range se.Groups {
		g := s.groups[sg.G.ID]
		for _, c := range sg.Children {
			child := s.groups[c]
			if child == nil {
				return nil, corrupt("environment %s: group %s nests unknown group %s", s.env.ID, sg.G.ID, c)
			}
			g.children[c] = struct{}{}
			child.parents[g.g.ID] = struct{}{}
		}
		if g.g.Kind == domain.GroupDynamic {
			s.dynamic = append(s.dynamic, g)
			s.compileDynamic(g)
		}
	}
	return s, nil
}

// Checksum returns d's position and a SHA-256 of its state at that position, taken atomically.
// The hash is canonical: it depends only on the state (every value any query answers, dynamic
// group members, attribute use counts), never on map iteration order nor on how the model was
// reached, so live folding, a rebuild and snapshot plus replay of the same events agree. The
// position is not part of the hash.
func (d *Directory) Checksum() (eventstore.Position, [32]byte) {
	c, _ := d.capture(true)
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 1<<16)
	if _, _, err := c.encode(bw); err != nil {
		panic(fmt.Sprintf("projections: checksum: encode into a hash: %v", err)) // writes to a hash never fail
	}
	bw.Flush()
	var sum [32]byte
	h.Sum(sum[:0])
	return c.pos, sum
}
