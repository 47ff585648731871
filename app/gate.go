package app

import (
	"fmt"
	"sort"
	"sync"
)

// Gate decides whether the ledger takes writes. Parts of the ledger that
// find the store unfit to write to — the stream shorter than a signed
// checkpoint, an event lost from the store, a checkpoint that no longer
// matches the stream — close it with a Block; every command is then refused
// with that block until an operator acts. Reads go on.
type Gate struct {
	mu     sync.Mutex
	blocks map[string]Block
	checks []func() *Block
}

// Block says why writes are refused.
type Block struct {
	Code   string `json:"code"`   // stable machine code, e.g. "stream-truncated"
	Detail string `json:"detail"` // what was found and what to do, in words
	// Seq is the first stream sequence concerned, when there is one.
	Seq uint64 `json:"seq,omitempty"`
}

// BlockedError is returned by Handle while the gate is closed.
type BlockedError struct{ Block }

func (e *BlockedError) Error() string {
	return fmt.Sprintf("writes are refused: %s", e.Detail)
}

// NewGate returns an open gate.
func NewGate() *Gate { return &Gate{blocks: map[string]Block{}} }

// Close refuses writes for the reason named key until Open(key).
func (g *Gate) Close(key string, b Block) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocks[key] = b
}

// Open lifts the block named key.
func (g *Gate) Open(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.blocks, key)
}

// Watch adds a check run whenever the gate is asked: it returns a block, or
// nil while all is well (it must be cheap and safe for concurrent use).
func (g *Gate) Watch(check func() *Block) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.checks = append(g.checks, check)
}

// Blocks returns every reason writes are refused now, ordered by code.
func (g *Gate) Blocks() []Block {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	out := make([]Block, 0, len(g.blocks))
	for _, b := range g.blocks {
		out = append(out, b)
	}
	checks := g.checks
	g.mu.Unlock()
	for _, c := range checks {
		if b := c(); b != nil {
			out = append(out, *b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Err returns a *BlockedError for the first reason writes are refused, or nil.
func (g *Gate) Err() error {
	if bs := g.Blocks(); len(bs) > 0 {
		return &BlockedError{bs[0]}
	}
	return nil
}
