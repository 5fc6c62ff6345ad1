package propagation

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/nats-io/nats.go"
)

// Topics of the propagation bus, under a namespace (default "idstream"; tests and several
// deployments sharing one broker use their own):
//
//	<ns>.propagation.identity.<n>  identity changes of shard n
//	<ns>.propagation.revision      published revisions (their resyncs)
//	<ns>.propagation.poison        messages whose handling failed for good
//
// On NATS every subject of a namespace is stored in the JetStream stream <NS>_PROPAGATION and
// consumed by the queue group "<ns>-propagation" of every process.
type Topics struct{ ns string }

// DefaultNamespace is the namespace of the bus topics when none is configured.
const DefaultNamespace = "idstream"

// NewTopics returns the topics of namespace ns ("" is DefaultNamespace).
func NewTopics(ns string) Topics {
	if ns == "" {
		ns = DefaultNamespace
	}
	return Topics{ns: ns}
}

func (t Topics) prefix() string { return t.ns + ".propagation." }

// Shard returns the topic of identity shard n.
func (t Topics) Shard(n int) string { return fmt.Sprintf("%sidentity.%d", t.prefix(), n) }

// Revision returns the topic of published revisions.
func (t Topics) Revision() string { return t.prefix() + "revision" }

// Poison returns the poison queue topic.
func (t Topics) Poison() string { return t.prefix() + "poison" }

// QueueGroup returns the NATS queue group of the namespace's workers.
func (t Topics) QueueGroup() string { return t.ns + "-propagation" }

func (t Topics) natsStream() string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_", "*", "_", ">", "_").Replace(t.ns)) + "_PROPAGATION"
}

// ShardOf returns the shard of an identity among shards (FNV-1a of its ID).
func ShardOf(identityID string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(identityID))
	return int(h.Sum32() % uint32(shards))
}

// Bus is the message bus: a publisher and a subscriber on the same broker.
type Bus struct {
	Publisher  message.Publisher
	Subscriber message.Subscriber
	// Kind is "gochannel" or "nats".
	Kind  string
	close func() error
}

// Close closes the publisher and the subscriber.
func (b *Bus) Close() error { return b.close() }

// NewBus opens the bus named by url, for topics: "" or "gochannel" is an in-process Watermill gochannel
// (not persistent: the forwarder's checkpoint is what survives a restart; each publish returns
// once the handler acknowledged it); "nats://host:port" is NATS JetStream: messages are stored
// in the namespace's JetStream stream (IDSTREAM_PROPAGATION by default, created when missing),
// each topic has a durable consumer shared by the namespace's queue group
// ("idstream-propagation" by default) of every process, with at most one message
// in flight per consumer (MaxAckPending 1), so each shard's messages are handled one at a time
// in publish order whichever process handles them. ackWait (default 1 minute) is how long a
// delivered message may stay unacknowledged before JetStream redelivers it: longer than the
// longest handling (every retry included), or a slow message would run twice at once; a worker
// that stops with a message delivered but unhandled delays its shard by up to ackWait.
func NewBus(url string, topics Topics, ackWait time.Duration, logger watermill.LoggerAdapter) (*Bus, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	switch {
	case url == "" || url == "gochannel":
		g := gochannel.NewGoChannel(gochannel.Config{Persistent: false, BlockPublishUntilSubscriberAck: true}, logger)
		return &Bus{Publisher: g, Subscriber: g, Kind: "gochannel", close: g.Close}, nil
	case strings.HasPrefix(url, "nats://"):
		return newNATSBus(url, topics, ackWait, logger)
	}
	return nil, fmt.Errorf("bus %q: want gochannel or nats://host:port", url)
}

func newNATSBus(url string, topics Topics, ackWait time.Duration, logger watermill.LoggerAdapter) (*Bus, error) {
	if ackWait <= 0 {
		ackWait = time.Minute
	}
	natsStream, queueGroup := topics.natsStream(), topics.QueueGroup()
	opts := []nats.Option{nats.Name("idstream propagation"), nats.Timeout(5 * time.Second), nats.RetryOnFailedConnect(false)}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus %s: connect: %w", url, err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return nil, fmt.Errorf("bus %s: jetstream: %w", url, err)
	}
	if _, err := js.StreamInfo(natsStream); err != nil {
		if _, err := js.AddStream(&nats.StreamConfig{Name: natsStream, Subjects: []string{topics.prefix() + ">"},
			Storage: nats.FileStorage, Retention: nats.LimitsPolicy, MaxAge: 7 * 24 * time.Hour, Duplicates: 2 * time.Minute}); err != nil {
			return nil, fmt.Errorf("bus %s: create stream %s: %w", url, natsStream, err)
		}
	}
	subjects := func(queueGroupPrefix, topic string) *wmnats.SubjectDetail {
		return &wmnats.SubjectDetail{Primary: topic, QueueGroup: queueGroupPrefix}
	}
	durable := func(prefix, topic string) string {
		return prefix + "-" + strings.NewReplacer(".", "-", "*", "-", ">", "-").Replace(strings.TrimPrefix(topic, topics.prefix()))
	}
	js2 := wmnats.JetStreamConfig{
		AutoProvision: false,
		SubscribeOptions: []nats.SubOpt{nats.BindStream(natsStream), nats.ManualAck(), nats.AckExplicit(), nats.MaxAckPending(1),
			nats.DeliverAll(), nats.AckWait(ackWait)},
		TrackMsgId:        true,
		DurablePrefix:     queueGroup,
		DurableCalculator: durable,
	}
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{URL: url, NatsOptions: opts, Marshaler: &wmnats.NATSMarshaler{},
		SubjectCalculator: subjects, JetStream: js2}, logger)
	if err != nil {
		return nil, fmt.Errorf("bus %s: publisher: %w", url, err)
	}
	sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{URL: url, NatsOptions: opts, QueueGroupPrefix: queueGroup,
		SubscribersCount: 1, AckWaitTimeout: ackWait, CloseTimeout: 10 * time.Second, Unmarshaler: &wmnats.NATSMarshaler{},
		SubjectCalculator: subjects, JetStream: js2}, logger)
	if err != nil {
		_ = pub.Close()
		return nil, fmt.Errorf("bus %s: subscriber: %w", url, err)
	}
	return &Bus{Publisher: pub, Subscriber: sub, Kind: "nats", close: func() error {
		err1 := sub.Close()
		err2 := pub.Close()
		if err1 != nil {
			return err1
		}
		return err2
	}}, nil
}
