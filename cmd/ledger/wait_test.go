package main

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test with what after
// timeout. Tests wait with it, never with a fixed sleep.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		<-time.After(wait) // the next look, not a wait for a fixed time
	}
}
