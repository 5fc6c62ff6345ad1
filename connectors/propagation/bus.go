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

// Topics of the propagation bus.
const (
	// TopicIdentity is the prefix of the identity change topics: one per shard,
	// idstream.propagation.identity.<n>.
	TopicIdentity = "idstream.propagation.identity"
	// TopicRevision carries published revisions (their resyncs).
	TopicRevision = "idstream.propagation.revision"
	// TopicPoison receives the messages whose handling failed for good.
	TopicPoison = "idstream.propagation.poison"
	// QueueGroup is the NATS queue group the workers of every idstream process share.
	QueueGroup = "idstream-propagation"
	// natsStream is the JetStream stream holding every propagation subject.
	natsStream = "IDSTREAM_PROPAGATION"
)

// ShardTopic returns the topic of shard n.
func ShardTopic(n int) string { return fmt.Sprintf("%s.%d", TopicIdentity, n) }

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

// NewBus opens the bus named by url: "" or "gochannel" is an in-process Watermill gochannel
// (not persistent: the forwarder's checkpoint is what survives a restart; each publish returns
// once the handler acknowledged it); "nats://host:port" is NATS JetStream: messages are stored
// in the stream IDSTREAM_PROPAGATION (created when missing), each topic has a durable consumer
// shared by the queue group "idstream-propagation" of every process, with at most one message
// in flight per consumer (MaxAckPending 1), so each shard's messages are handled one at a time
// in publish order whichever process handles them.
func NewBus(url string, logger watermill.LoggerAdapter) (*Bus, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	switch {
	case url == "" || url == "gochannel":
		g := gochannel.NewGoChannel(gochannel.Config{Persistent: false, BlockPublishUntilSubscriberAck: true}, logger)
		return &Bus{Publisher: g, Subscriber: g, Kind: "gochannel", close: g.Close}, nil
	case strings.HasPrefix(url, "nats://"):
		return newNATSBus(url, logger)
	}
	return nil, fmt.Errorf("bus %q: want gochannel or nats://host:port", url)
}

func newNATSBus(url string, logger watermill.LoggerAdapter) (*Bus, error) {
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
		if _, err := js.AddStream(&nats.StreamConfig{Name: natsStream, Subjects: []string{"idstream.propagation.>"},
			Storage: nats.FileStorage, Retention: nats.LimitsPolicy, MaxAge: 7 * 24 * time.Hour, Duplicates: 2 * time.Minute}); err != nil {
			return nil, fmt.Errorf("bus %s: create stream %s: %w", url, natsStream, err)
		}
	}
	subjects := func(queueGroupPrefix, topic string) *wmnats.SubjectDetail {
		return &wmnats.SubjectDetail{Primary: topic, QueueGroup: queueGroupPrefix}
	}
	durable := func(prefix, topic string) string {
		return prefix + "-" + strings.NewReplacer(".", "-", "*", "-", ">", "-").Replace(strings.TrimPrefix(topic, "idstream.propagation."))
	}
	js2 := wmnats.JetStreamConfig{
		AutoProvision: false,
		SubscribeOptions: []nats.SubOpt{nats.BindStream(natsStream), nats.ManualAck(), nats.AckExplicit(), nats.MaxAckPending(1),
			nats.DeliverAll()},
		TrackMsgId:        true,
		DurablePrefix:     QueueGroup,
		DurableCalculator: durable,
	}
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{URL: url, NatsOptions: opts, Marshaler: &wmnats.NATSMarshaler{},
		SubjectCalculator: subjects, JetStream: js2}, logger)
	if err != nil {
		return nil, fmt.Errorf("bus %s: publisher: %w", url, err)
	}
	sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{URL: url, NatsOptions: opts, QueueGroupPrefix: QueueGroup,
		SubscribersCount: 1, AckWaitTimeout: time.Minute, CloseTimeout: 10 * time.Second, Unmarshaler: &wmnats.NATSMarshaler{},
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
