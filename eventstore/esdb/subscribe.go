package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/idstream/idstream/eventstore"
)

// SubscribeAll starts a catch-up subscription to $all on the server. See eventstore.Store.
// Filters run on the server, with EventStoreDB's search window set to the checkpoint interval
// (multiplier 1); checkpoints that would go backwards are not passed on.
func (s *Store) SubscribeAll(ctx context.Context, opts eventstore.SubscribeAllOptions) (eventstore.Subscription, error) {
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	interval := opts.CheckpointInterval
	if interval == 0 {
		interval = 32
	}
	ao := &api.ReadReq_Options_AllOptions{}
	switch {
	case opts.FromEnd:
		ao.AllOption = &api.ReadReq_Options_AllOptions_End{End: &shared.Empty{}}
	case opts.After.IsZero():
		ao.AllOption = &api.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}
	default:
		ao.AllOption = &api.ReadReq_Options_AllOptions_Position{Position: &api.ReadReq_Options_Position{
			CommitPosition: opts.After.Commit, PreparePosition: opts.After.Prepare}}
	}
	o := &api.ReadReq_Options{
		StreamOption:  &api.ReadReq_Options_All{All: ao},
		ReadDirection: api.ReadReq_Options_Forwards,
		CountOption:   &api.ReadReq_Options_Subscription{Subscription: &api.ReadReq_Options_SubscriptionOptions{}},
		FilterOption:  &api.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
		UuidOption:    &api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}},
	}
	if opts.Filter != nil {
		o.FilterOption = &api.ReadReq_Options_Filter{Filter: filterOptions(opts.Filter, interval)}
	}

	sub := &subscription{store: s, filter: opts.Filter, msgs: make(chan item), done: make(chan struct{})}
	var subCtx context.Context
	subCtx, sub.cancel = context.WithCancel(context.Background())
	// ctx bounds the start only: cancelling it before the confirmation abandons the call.
	stop := context.AfterFunc(ctx, sub.cancel)
	var call api.Streams_ReadClient
	var usedConn *conn
	err := s.do(ctx, "subscribe to", "$all", func(_ context.Context, c *conn, md *metadata.MD) error {
		var err error
		if call, err = c.streams.Read(subCtx, &api.ReadReq{Options: o}, grpc.Trailer(md)); err != nil {
			return err
		}
		resp, err := call.Recv()
		if err != nil {
			return err
		}
		if resp.GetConfirmation() == nil {
			return final{fmt.Errorf("%w: esdb: subscribe to $all: the server did not confirm the subscription", eventstore.ErrUnavailable)}
		}
		usedConn = c
		return nil
	})
	if !stop() || err != nil {
		sub.cancel()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("subscribe to $all: %w", ctxErr)
		}
		return nil, err
	}
	go sub.pump(call, usedConn)
	return sub, nil
}

type item struct {
	msg eventstore.Message
	err error
}

type subscription struct {
	store  *Store
	filter *eventstore.Filter
	cancel context.CancelFunc
	msgs   chan item
	done   chan struct{}
	once   sync.Once

	mu  sync.Mutex
	err error // the error that ended the subscription, returned by every later Next
}

// pump turns server messages into port messages, one at a time, as Next asks for them.
func (sub *subscription) pump(call api.Streams_ReadClient, c *conn) {
	var lastEvent, lastCheckpoint *eventstore.Position
	caughtUp := false
	send := func(it item) bool {
		select {
		case sub.msgs <- it:
			return true
		case <-sub.done:
		case <-sub.store.done:
		}
		return false
	}
	for {
		resp, err := call.Recv()
		if err != nil {
			ce := classify(context.Background(), "subscription to", "$all", err, call.Trailer())
			sub.store.observe(c, ce.err)
			send(item{err: ce.err})
			return
		}
		var it item
		switch m := resp.GetContent().(type) {
		case *api.ReadResp_Event:
			e, system, err := decode(m.Event)
			if err != nil {
				send(item{err: err})
				sub.cancel()
				return
			}
			if system || !sub.filter.Match(e.Stream, e.Type) {
				continue
			}
			p := e.Position
			lastEvent = &p
			it.msg = eventstore.Message{Kind: eventstore.MessageEvent, Event: e, Position: p}
		case *api.ReadResp_Checkpoint_:
			p := eventstore.Position{Commit: m.Checkpoint.GetCommitPosition(), Prepare: m.Checkpoint.GetPreparePosition()}
			if (lastCheckpoint != nil && !lastCheckpoint.Less(p)) || (lastEvent != nil && p.Less(*lastEvent)) {
				continue
			}
			lastCheckpoint = &p
			it.msg = eventstore.Message{Kind: eventstore.MessageCheckpoint, Position: p}
		case *api.ReadResp_CaughtUp_:
			if caughtUp {
				continue
			}
			caughtUp = true
			it.msg = eventstore.Message{Kind: eventstore.MessageCaughtUp}
		default:
			continue
		}
		if !send(it) {
			return
		}
	}
}

// Next returns the next message. See eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) (eventstore.Message, error) {
	sub.mu.Lock()
	err := sub.err
	sub.mu.Unlock()
	if err != nil {
		return eventstore.Message{}, err
	}
	if sub.closed() {
		return eventstore.Message{}, sub.fail(eventstore.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Message{}, err // even when a message is waiting
	}
	select {
	case it := <-sub.msgs:
		if it.err != nil {
			if sub.closed() {
				return eventstore.Message{}, sub.fail(eventstore.ErrClosed)
			}
			return eventstore.Message{}, sub.fail(it.err)
		}
		return it.msg, nil
	case <-ctx.Done():
		return eventstore.Message{}, ctx.Err()
	case <-sub.done:
		return eventstore.Message{}, sub.fail(eventstore.ErrClosed)
	case <-sub.store.done:
		return eventstore.Message{}, sub.fail(eventstore.ErrClosed)
	}
}

func (sub *subscription) closed() bool {
	select {
	case <-sub.done:
		return true
	case <-sub.store.done:
		return true
	default:
		return false
	}
}

func (sub *subscription) fail(err error) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.err == nil {
		if errors.Is(err, eventstore.ErrClosed) {
			err = fmt.Errorf("subscription to $all: %w", eventstore.ErrClosed)
		}
		sub.err = err
		sub.cancel()
	}
	return sub.err
}

// Close ends the subscription; it is safe to call more than once and concurrently with Next.
func (sub *subscription) Close() error {
	sub.once.Do(func() {
		close(sub.done)
		sub.cancel()
	})
	return nil
}
