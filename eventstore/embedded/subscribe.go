package embedded

import (
	"context"
	"fmt"
	"sync"

	"github.com/idstream/idstream/eventstore"
)

// SubscribeAll implements eventstore.Store. A subscription reads the log itself, page by page,
// so a slow consumer costs writers nothing and misses nothing; once it has read up to the head it
// waits for the committer's next notification.
func (s *Store) SubscribeAll(ctx context.Context, opts eventstore.SubscribeAllOptions) (eventstore.Subscription, error) {
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	s.inflight.Done()
	head := s.head.Load()
	if !opts.FromEnd && opts.After.Commit > head {
		// A checkpoint from another store, or from a data directory restored to an older state:
		// following it would silently skip every event up to it.
		return nil, fmt.Errorf("%w: subscribe after position %d, beyond the head of the log (%d)", eventstore.ErrInvalidArgument, opts.After.Commit, head)
	}
	sub := &subscription{s: s, filter: opts.Filter, cursor: opts.After.Commit, done: make(chan struct{})}
	if opts.FromEnd {
		sub.cursor = head
	}
	sub.interval = uint64(opts.CheckpointInterval)
	if sub.interval == 0 {
		sub.interval = 32
	}
	sub.catchUpTo = head
	return sub, nil
}

const subscriptionPage = 1024

type subscription struct {
	s        *Store
	filter   *eventstore.Filter
	interval uint64

	cursor    uint64 // last position delivered or skipped
	skipped   uint64 // events filtered out since the last message
	catchUpTo uint64 // head when subscribing; CaughtUp is sent once cursor reaches it
	caughtUp  bool
	buf       []eventstore.Message

	closeOnce sync.Once
	done      chan struct{}
}

// Next implements eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) (eventstore.Message, error) {
	for {
		if err := ctx.Err(); err != nil { // a done context wins over messages already read
			return eventstore.Message{}, err
		}
		select {
		case <-sub.done:
			return eventstore.Message{}, eventstore.ErrClosed
		case <-sub.s.closing:
			return eventstore.Message{}, eventstore.ErrClosed
		default:
		}
		if len(sub.buf) > 0 {
			m := sub.buf[0]
			sub.buf = sub.buf[1:]
			return m, nil
		}
		if err := ctx.Err(); err != nil {
			return eventstore.Message{}, err
		}
		wait := sub.s.waitChan() // taken before reading head, so no notification is missed
		head := sub.s.head.Load()
		if sub.cursor < head {
			if err := sub.fill(ctx, head); err != nil {
				return eventstore.Message{}, err
			}
			continue
		}
		if sub.skipped > 0 {
			sub.checkpoint(sub.cursor)
		}
		if !sub.caughtUp && sub.cursor >= sub.catchUpTo {
			sub.caughtUp = true
			sub.buf = append(sub.buf, eventstore.Message{Kind: eventstore.MessageCaughtUp, Position: position(sub.cursor)})
		}
		if len(sub.buf) > 0 {
			continue
		}
		select {
		case <-wait:
		case <-sub.done:
			return eventstore.Message{}, eventstore.ErrClosed
		case <-sub.s.closing:
			return eventstore.Message{}, eventstore.ErrClosed
		case <-ctx.Done():
			return eventstore.Message{}, ctx.Err()
		}
	}
}

// fill reads the next page of the log after the cursor into buf.
func (sub *subscription) fill(ctx context.Context, head uint64) error {
	if err := sub.s.enter(); err != nil {
		return err
	}
	defer sub.s.inflight.Done()
	hi := min(head, sub.cursor+subscriptionPage)
	err := sub.s.scan(ctx, sub.cursor+1, hi, false, sub.filter, 0,
		func(e eventstore.RecordedEvent) bool {
			sub.buf = append(sub.buf, eventstore.Message{Kind: eventstore.MessageEvent, Event: e, Position: e.Position})
			sub.cursor, sub.skipped = e.Position.Commit, 0
			return true
		},
		func(pos uint64) bool {
			sub.cursor = pos
			if sub.skipped++; sub.skipped >= sub.interval {
				sub.checkpoint(pos)
			}
			return true
		})
	if err != nil {
		return err
	}
	sub.cursor = hi
	return nil
}

func (sub *subscription) checkpoint(pos uint64) {
	sub.skipped = 0
	sub.buf = append(sub.buf, eventstore.Message{Kind: eventstore.MessageCheckpoint, Position: position(pos)})
}

// Close implements eventstore.Subscription.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { close(sub.done) })
	return nil
}
