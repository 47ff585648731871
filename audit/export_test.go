package audit

import (
	"crypto/sha256"
	"encoding/hex"
)

// HashForTest is the event hash rule, for tests that forge events.
func HashForTest(unsealed []byte) string {
	s := sha256.Sum256(unsealed)
	return hex.EncodeToString(s[:])
}
