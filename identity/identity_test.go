package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zjfund/ledger/eventstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDir(t *testing.T, dir string) (*Directory, func()) {
	t.Helper()
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("identity-test")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	return d, func() { d.Close(); nc.Close(); srv.Shutdown() }
}

// TestTokens: a token authenticates its user until it expires, is revoked,
// or its user is disabled; tokens are kept only as hashes; the directory is
// there after a restart.
func TestTokens(t *testing.T) {
	dir := t.TempDir()
	d, stop := openDir(t, dir)
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	if _, err := d.Add(ctx, User{ID: "wangfang", Name: "王芳", Org: "上虞市发改局", Roles: []string{"county_drc"}, Region: "330682"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []User{
		{ID: "x", Name: "x", Roles: []string{"mayor"}, Region: "330682"},
		{ID: "x", Name: "x", Roles: []string{"owner"}, Region: "330682"}, // an owner without its organisation
		{ID: "x", Name: "x", Roles: []string{"auditor"}, Region: "zhejiang"},
		{ID: "x y", Name: "x", Roles: []string{"auditor"}, Region: "province"},
		{ID: "wangfang", Name: "again", Roles: []string{"auditor"}, Region: "province"},
	} {
		if _, err := d.Add(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("adding %+v: %v, want ErrInvalid", bad, err)
		}
	}
	tok, meta, err := d.Issue(ctx, "wangfang", "laptop", 24*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if meta.Hash != HashToken(tok) || meta.ID != meta.Hash[:16] {
		t.Fatalf("stored token %+v", meta)
	}
	if u, err := d.Authenticate(tok); err != nil || u.ID != "wangfang" {
		t.Fatalf("a fresh token: %v, %v", u, err)
	}
	if _, err := d.Authenticate(tok + "x"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("another token: %v", err)
	}
	now = now.Add(25 * time.Hour)
	if _, err := d.Authenticate(tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("an expired token: %v", err)
	}
	now = now.Add(-25 * time.Hour)
	if _, _, err := d.Issue(ctx, "wangfang", "short", time.Hour, "too-short"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an operator's short token: %v", err)
	}
	if _, err := d.SetDisabled(ctx, "wangfang", true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a disabled user's token: %v", err)
	}
	if _, err := d.SetDisabled(ctx, "wangfang", false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(tok); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
	stop()

	// After a restart the directory is read back from its buckets.
	d, stop = openDir(t, dir)
	defer stop()
	d.now = func() time.Time { return now }
	if u, err := d.Authenticate(tok); err != nil || u.Name != "王芳" {
		t.Fatalf("after a restart: %v, %v", u, err)
	}
	if _, err := d.Revoke(ctx, "wangfang", meta.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a revoked token: %v", err)
	}
	for _, tk := range d.Tokens("wangfang") {
		if tk.Hash == tok || tk.Revoked == nil {
			t.Fatalf("listed token %+v", tk)
		}
	}
}

// TestRegions: who may act on or read which region.
func TestRegions(t *testing.T) {
	for _, c := range []struct {
		region, city, county string
		in                   bool
	}{
		{"province", "330200", "330206", true},
		{"330600", "330600", "330682", true},
		{"330600", "330200", "330206", false},
		{"330682", "330600", "330682", true},
		{"330682", "330600", "330681", false},
	} {
		u := User{Region: c.region}
		if got := u.InRegion(c.city, c.county); got != c.in {
			t.Errorf("region %s, project %s/%s: %v, want %v", c.region, c.city, c.county, got, c.in)
		}
	}
}
