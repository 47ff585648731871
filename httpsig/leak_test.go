package httpsig

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine the package's tests started is left
// running when they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
