package projections

import "sort"

// userSlot is the stable handle of one user inside an environment: indexes hold the slot, and a
// change to the user replaces u (a fresh immutable *User), so no index needs touching for
// changes that do not move the user in it.
type userSlot struct {
	id string
	u  *User
}

// blockSize bounds the blocks of a userList: inserts and removals move at most this many
// pointers, and seeks cost a binary search over the blocks and one inside a block.
const blockSize = 512

// userList is a set of users sorted by ID: a list of sorted blocks. Users are created in ID
// order (UUIDv7), so inserting is almost always an append.
type userList struct {
	blocks [][]*userSlot
	n      int
}

func (l *userList) len() int { return l.n }

// find returns the block holding id's place and the index within it.
func (l *userList) find(id string) (b, i int) {
	b = sort.Search(len(l.blocks), func(k int) bool {
		blk := l.blocks[k]
		return blk[len(blk)-1].id >= id
	})
	if b == len(l.blocks) {
		return b, 0
	}
	blk := l.blocks[b]
	return b, sort.Search(len(blk), func(k int) bool { return blk[k].id >= id })
}

func (l *userList) insert(s *userSlot) {
	nb := len(l.blocks)
	if nb == 0 || l.blocks[nb-1][len(l.blocks[nb-1])-1].id < s.id {
		if nb == 0 || len(l.blocks[nb-1]) >= blockSize {
			l.blocks = append(l.blocks, make([]*userSlot, 0, blockSize))
			nb++
		}
		l.blocks[nb-1] = append(l.blocks[nb-1], s)
		l.n++
		return
	}
	b, i := l.find(s.id)
	blk := l.blocks[b]
	if blk[i].id == s.id {
		blk[i] = s
		return
	}
	blk = append(blk, nil)
	copy(blk[i+1:], blk[i:])
	blk[i] = s
	l.n++
	if len(blk) > blockSize {
		half := len(blk) / 2
		right := append(make([]*userSlot, 0, blockSize), blk[half:]...)
		l.blocks[b] = blk[:half:half]
		l.blocks = append(l.blocks, nil)
		copy(l.blocks[b+2:], l.blocks[b+1:])
		l.blocks[b+1] = right
		return
	}
	l.blocks[b] = blk
}

func (l *userList) remove(id string) {
	b, i := l.find(id)
	if b == len(l.blocks) || l.blocks[b][i].id != id {
		return
	}
	blk := l.blocks[b]
	copy(blk[i:], blk[i+1:])
	blk[len(blk)-1] = nil
	blk = blk[:len(blk)-1]
	l.n--
	if len(blk) == 0 {
		l.blocks = append(l.blocks[:b], l.blocks[b+1:]...)
		return
	}
	l.blocks[b] = blk
}

// each calls fn for the users with an ID greater than after ("" for all), in ID order, until fn
// returns false.
func (l *userList) each(after string, fn func(*userSlot) bool) {
	b, i := 0, 0
	if after != "" {
		b, i = l.find(after)
		if b < len(l.blocks) && l.blocks[b][i].id == after {
			i++
		}
	}
	for ; b < len(l.blocks); b, i = b+1, 0 {
		for _, s := range l.blocks[b][i:] {
			if !fn(s) {
				return
			}
		}
	}
}
