package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CheckpointStream holds the signed checkpoints of the event stream's Merkle
// tree, one message each, in order, with the same immutability settings.
const CheckpointStream = "LEDGER_CHECKPOINTS"

// checkpointSubject is the one subject of the checkpoint stream.
const checkpointSubject = "ledger_checkpoint.LEDGER"

// Checkpoints is the log of signed checkpoints.
type Checkpoints struct {
	js     jetstream.JetStream
	stream jetstream.Stream
}

// StoredCheckpoint is a signed checkpoint as stored, with its sequence in the checkpoint stream.
type StoredCheckpoint struct {
	Seq    uint64
	Size   int64
	Signed []byte
}

// OpenCheckpoints opens (creating it if needed) the checkpoint stream.
func OpenCheckpoints(ctx context.Context, nc *nats.Conn, replicas int) (*Checkpoints, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if replicas == 0 {
		replicas = 1
	}
	stream, err := js.Stream(ctx, CheckpointStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name: CheckpointStream, Description: "Signed checkpoints of the LEDGER stream's Merkle tree",
			Subjects: []string{checkpointSubject}, Retention: jetstream.LimitsPolicy, MaxMsgs: -1, MaxBytes: -1,
			MaxMsgsPerSubject: -1, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage, Replicas: replicas,
			Duplicates: 10 * time.Minute, DenyDelete: true, DenyPurge: true, AllowDirect: true,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open checkpoint stream: %w", err)
	}
	return &Checkpoints{js: js, stream: stream}, nil
}

// keyMetadata is the checkpoint stream's metadata entry holding the public
// key the checkpoints are signed with, for readers that reach the ledger
// only through NATS.
const keyMetadata = "public_key"

// PublishKey records the checkpoints' public key in the checkpoint stream's
// metadata (when it is not there already).
func (c *Checkpoints) PublishKey(ctx context.Context, key string) error {
	info, err := c.stream.Info(ctx)
	if err != nil {
		return err
	}
	if info.Config.Metadata[keyMetadata] == key {
		return nil
	}
	cfg := info.Config
	md := map[string]string{}
	for k, v := range cfg.Metadata {
		md[k] = v
	}
	md[keyMetadata] = key
	cfg.Metadata = md
	_, err = c.js.UpdateStream(ctx, cfg)
	return err
}

// PublishedKey is the public key the ledger recorded with PublishKey ("" when
// none is).
func (c *Checkpoints) PublishedKey(ctx context.Context) (string, error) {
	info, err := c.stream.Info(ctx)
	if err != nil {
		return "", err
	}
	return info.Config.Metadata[keyMetadata], nil
}

// Append stores a signed checkpoint of the tree of size leaves after the
// checkpoint at sequence expected (0 for the first). It returns a
// *ConflictError when another writer stored one first.
func (c *Checkpoints) Append(ctx context.Context, size int64, signed []byte, expected uint64) (uint64, error) {
	m := nats.NewMsg(checkpointSubject)
	m.Data = signed
	m.Header.Set("Ledger-Tree-Size", strconv.FormatInt(size, 10))
	m.Header.Set(jetstream.MsgIDHeader, "checkpoint-"+strconv.FormatInt(size, 10))
	ack, err := c.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(expected))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return 0, &ConflictError{Expected: expected}
	}
	if err != nil {
		return 0, fmt.Errorf("store checkpoint of %d events: %w", size, err)
	}
	return ack.Sequence, nil
}

// Last returns the latest stored checkpoint, and false when there is none.
func (c *Checkpoints) Last(ctx context.Context) (StoredCheckpoint, bool, error) {
	m, err := c.stream.GetLastMsgForSubject(ctx, checkpointSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return StoredCheckpoint{}, false, nil
	}
	if err != nil {
		return StoredCheckpoint{}, false, fmt.Errorf("read the latest checkpoint: %w", err)
	}
	size, _ := strconv.ParseInt(m.Header.Get("Ledger-Tree-Size"), 10, 64)
	return StoredCheckpoint{Seq: m.Sequence, Size: size, Signed: m.Data}, true, nil
}

// All returns every stored checkpoint in order.
func (c *Checkpoints) All(ctx context.Context) ([]StoredCheckpoint, error) {
	info, err := c.stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []StoredCheckpoint
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := c.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read checkpoint %d: %w", seq, err)
		}
		size, _ := strconv.ParseInt(m.Header.Get("Ledger-Tree-Size"), 10, 64)
		out = append(out, StoredCheckpoint{Seq: m.Sequence, Size: size, Signed: m.Data})
	}
	return out, nil
}
