package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/zjfund/ledger/client"
)

// TestClientKnowsEveryCommandRoute: the Go client's path of each command is
// the route that serves it, and it knows every command.
func TestClientKnowsEveryCommandRoute(t *testing.T) {
	for _, rt := range commandRoutes {
		cmd := rt.newCmd(&http.Request{})
		_, path, _ := strings.Cut(rt.pattern, " ")
		if got := client.CommandPath(cmd); got != path {
			t.Errorf("%s: the client posts to %q, the API serves %q", cmd.CommandName(), got, path)
		}
	}
}
