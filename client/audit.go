package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Checkpoint is a signed checkpoint of the ledger's Merkle tree (the C2SP
// tlog-checkpoint format): the tree's origin, size (events covered) and
// root hash (base64), and the whole signed note. The client does not check
// the signature: audit.OpenCheckpoint does, against the published key.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   string
	Note   string
}

// LatestCheckpoint is the latest signed checkpoint (a *Problem
// "no-checkpoint" before the first).
func (c *Client) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	b, err := c.text(ctx, "/v1/checkpoints/latest")
	if err != nil {
		return nil, err
	}
	lines := strings.SplitN(b, "\n", 4)
	if len(lines) < 4 {
		return nil, fmt.Errorf("ledger: a checkpoint that is not origin, size and root: %q", b)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint size %q", lines[1])
	}
	return &Checkpoint{Origin: lines[0], Size: size, Root: lines[2], Note: b}, nil
}

// CheckpointKey is the public key the ledger signs checkpoints with (a
// golang.org/x/mod/sumdb/note verifier key). Compare it with the one the
// operator publishes before trusting what it verifies.
func (c *Client) CheckpointKey(ctx context.Context) (string, error) {
	b, err := c.text(ctx, "/v1/checkpoints/key")
	return strings.TrimSpace(b), err
}

// text GETs a plain-text answer.
func (c *Client) text(ctx context.Context, path string) (string, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: path}, c.http)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}
