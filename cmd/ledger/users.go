package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zjfund/ledger/identity"
)

// fileUser is a user of --users-file: a user, and optionally a token of
// the operator's own for it (at least 32 characters).
type fileUser struct {
	identity.User
	Token string `json:"token,omitempty"`
}

// bootstrapUsers prepares the directory at start: on an empty directory it
// creates the first admin, with the token from LEDGER_ADMIN_TOKEN or
// --admin-token-file, or a new one printed once; it adds the users of
// --users-file that are not there yet, with their tokens.
func bootstrapUsers(ctx context.Context, dir *identity.Directory, cfg serveConfig, getenv func(string) string, stdout io.Writer) error {
	adminTok := getenv("LEDGER_ADMIN_TOKEN")
	if cfg.adminTokenFile != "" {
		fi, err := os.Stat(cfg.adminTokenFile)
		if err != nil {
			return fmt.Errorf("--admin-token-file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("--admin-token-file %s is readable by others (mode %v); chmod 600 it", cfg.adminTokenFile, fi.Mode().Perm())
		}
		b, err := os.ReadFile(cfg.adminTokenFile)
		if err != nil {
			return fmt.Errorf("--admin-token-file: %w", err)
		}
		adminTok = strings.TrimSpace(string(b))
	}
	const year = 365 * 24 * time.Hour
	if dir.Empty() {
		if _, err := dir.Add(ctx, identity.User{ID: "admin", Name: "Administrator", Org: "ledger", Roles: []string{identity.RoleAdmin}, Region: identity.Province}); err != nil {
			return fmt.Errorf("create the first admin: %w", err)
		}
		tok, _, err := dir.Issue(ctx, "admin", "first admin", year, adminTok)
		if err != nil {
			return fmt.Errorf("the first admin's token: %w", err)
		}
		if adminTok == "" {
			fmt.Fprintf(stdout, "ledger: created the first admin user \"admin\"; its token, shown this once: %s\n", tok)
		} else {
			fmt.Fprintln(stdout, "ledger: created the first admin user \"admin\" with the given token")
		}
	} else if adminTok != "" {
		// A fixed token for scripts: known from then on, across restarts.
		if _, err := dir.Authenticate(adminTok); err != nil {
			if _, _, err := dir.Issue(ctx, "admin", "LEDGER_ADMIN_TOKEN", year, adminTok); err != nil && !errors.Is(err, identity.ErrInvalid) {
				return fmt.Errorf("the admin token: %w", err)
			}
		}
	}
	if cfg.usersFile == "" {
		return nil
	}
	b, err := os.ReadFile(cfg.usersFile)
	if err != nil {
		return fmt.Errorf("--users-file: %w", err)
	}
	var us []fileUser
	if err := json.Unmarshal(b, &us); err != nil {
		return fmt.Errorf("--users-file %s: %w", cfg.usersFile, err)
	}
	added := 0
	for _, fu := range us {
		if _, err := dir.User(fu.ID); err != nil {
			if _, err := dir.Add(ctx, fu.User); err != nil {
				return fmt.Errorf("--users-file %s: user %s: %w", cfg.usersFile, fu.ID, err)
			}
			added++
		}
		if fu.Token != "" {
			if _, err := dir.Authenticate(fu.Token); err != nil {
				if _, _, err := dir.Issue(ctx, fu.ID, "users file", year, fu.Token); err != nil {
					return fmt.Errorf("--users-file %s: user %s's token: %w", cfg.usersFile, fu.ID, err)
				}
			}
		}
	}
	fmt.Fprintf(stdout, "ledger: %d users from %s (%d new)\n", len(us), cfg.usersFile, added)
	return nil
}

const usersUsage = `ledger users — manage the ledger's users (as an admin, through a running ledger's API)

  ledger users list
  ledger users add --id ID --name NAME [--org ORG] --roles county_drc[,…] --region 330682|330600|province [--owner-org ORG]
  ledger users disable --id ID        (and enable)
  ledger users token --id ID [--label L] [--ttl-days N]   issue a token; it is printed once
  ledger users tokens --id ID                             a user's tokens (ids, expiry, revocation)
  ledger users revoke --id ID --token-id TOKEN_ID
  ledger users key --key-id ID --public-key BASE64        register your own Ed25519 key (as the user of --token)

Every form takes --url (LEDGER_URL) and --token (LEDGER_TOKEN, an admin's), or,
for a stopped ledger, --data-dir DIR (all but key).
`

// usersCmd is `ledger users`.
func usersCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return errUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usersUsage)
		return errHelp
	}
	verb := args[0]
	fs := flag.NewFlagSet("users "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := registerAPI(fs, getenv)
	id := fs.String("id", "", "the user's id")
	var u identity.User
	var roles string
	label := fs.String("label", "", "what the token is for")
	ttl := fs.Int("ttl-days", 90, "days the token is valid")
	tokenID := fs.String("token-id", "", "the token's id (from ledger users tokens)")
	if verb == "add" {
		fs.StringVar(&u.Name, "name", "", "the user's name")
		fs.StringVar(&u.Org, "org", "", "the user's organisation")
		fs.StringVar(&roles, "roles", "", "comma-separated: owner, county_drc, city_drc, province_drc, ndrc, finance, auditor, admin")
		fs.StringVar(&u.Region, "region", "", "province, a city code (330600) or a county code (330682)")
		fs.StringVar(&u.Owner, "owner-org", "", "for an owner: the organisation whose projects they act on")
	}
	var keyID, pubKey string
	if verb == "key" {
		fs.StringVar(&keyID, "key-id", "", "the key's id, named in your signatures' keyid")
		fs.StringVar(&pubKey, "public-key", "", "the base64 of your 32-byte Ed25519 public key")
	}
	dataDir := fs.String("data-dir", "", "a stopped ledger's data directory, to manage its users without a running ledger (it takes the directory's lock)")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	for _, r := range strings.Split(roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			u.Roles = append(u.Roles, r)
		}
	}
	if *dataDir != "" {
		return usersLocal(ctx, verb, *dataDir, *id, u, *label, *ttl, *tokenID, stdout, stderr)
	}
	need := func() error {
		if *id == "" {
			fmt.Fprintf(stderr, "users %s: --id is required\n", verb)
			return errUsage
		}
		return nil
	}
	var body []byte
	var err error
	switch verb {
	case "list":
		body, _, err = c.do(ctx, http.MethodGet, "/v1/users", nil)
		if err != nil {
			return err
		}
		var l struct {
			Users []identity.User `json:"users"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tORG\tROLES\tREGION\tOWNER ORG\tDISABLED")
		for _, u := range l.Users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", u.ID, u.Name, u.Org, strings.Join(u.Roles, ","), u.Region, u.Owner, u.Disabled)
		}
		return tw.Flush()
	case "add":
		if err := need(); err != nil {
			return err
		}
		u.ID = *id
		body, _, err = c.do(ctx, http.MethodPost, "/v1/users", map[string]any{"id": u.ID, "name": u.Name, "org": u.Org, "roles": u.Roles,
			"region": u.Region, "owner_org": u.Owner})
	case "disable", "enable":
		if err := need(); err != nil {
			return err
		}
		body, _, err = c.do(ctx, http.MethodPost, "/v1/users/"+*id+"/"+verb, nil)
	case "token":
		if err := need(); err != nil {
			return err
		}
		body, _, err = c.do(ctx, http.MethodPost, "/v1/users/"+*id+"/tokens", map[string]any{"label": *label, "ttl_days": *ttl})
		if err == nil {
			var t struct {
				Token   string    `json:"token"`
				ID      string    `json:"id"`
				Expires time.Time `json:"expires"`
			}
			if err := json.Unmarshal(body, &t); err != nil {
				return err
			}
			fmt.Fprintln(stdout, t.Token)
			fmt.Fprintf(stderr, "token %s for %s, valid until %s; it is not shown again\n", t.ID, *id, t.Expires.Format(time.RFC3339))
			return nil
		}
	case "tokens":
		if err := need(); err != nil {
			return err
		}
		body, _, err = c.do(ctx, http.MethodGet, "/v1/users/"+*id+"/tokens", nil)
	case "revoke":
		if err := need(); err != nil {
			return err
		}
		if *tokenID == "" {
			fmt.Fprintln(stderr, "users revoke: --token-id is required")
			return errUsage
		}
		body, _, err = c.do(ctx, http.MethodDelete, "/v1/users/"+*id+"/tokens/"+*tokenID, nil)
	case "key":
		if keyID == "" || pubKey == "" {
			fmt.Fprintln(stderr, "users key: --key-id and --public-key are required; the key is registered for the user of --token")
			return errUsage
		}
		body, _, err = c.do(ctx, http.MethodPost, "/v1/me/keys", map[string]any{"key_id": keyID, "public_key": pubKey})
	default:
		fmt.Fprintf(stderr, "ledger users: unknown verb %q\n\n%s", verb, usersUsage)
		return errUsage
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
	return err
}

// usersLocal manages the users of a stopped ledger's data directory: it
// takes the directory's lock and opens the store itself.
func usersLocal(ctx context.Context, verb, dataDir, id string, u identity.User, label string, ttlDays int, tokenID string, stdout, stderr io.Writer) error {
	log := slog.New(slog.DiscardHandler)
	conn, err := connectNATS(serveConfig{dataDir: dataDir, replicas: 1}, "ledger users", log, io.Discard)
	if err != nil {
		return lockHint(err, "manage the users of a running ledger through its API (--url, --token)")
	}
	defer conn.close()
	dir, err := identity.Open(ctx, conn.nc, 1)
	if err != nil {
		return err
	}
	defer dir.Close()
	show := func(v any) error {
		b, _ := json.Marshal(v)
		_, err := fmt.Fprintln(stdout, string(b))
		return err
	}
	if verb != "list" && id == "" {
		fmt.Fprintf(stderr, "users %s: --id is required\n", verb)
		return errUsage
	}
	switch verb {
	case "list":
		for _, x := range dir.Users() {
			if err := show(x); err != nil {
				return err
			}
		}
		return nil
	case "add":
		u.ID = id
		x, err := dir.Add(ctx, u)
		if err != nil {
			return err
		}
		return show(x)
	case "disable", "enable":
		x, err := dir.SetDisabled(ctx, id, verb == "disable")
		if err != nil {
			return err
		}
		return show(x)
	case "token":
		tok, t, err := dir.Issue(ctx, id, label, time.Duration(ttlDays)*24*time.Hour, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		fmt.Fprintf(stderr, "token %s for %s, valid until %s; it is not shown again\n", t.ID, id, t.Expires.Format(time.RFC3339))
		return nil
	case "tokens":
		return show(dir.Tokens(id))
	case "revoke":
		t, err := dir.Revoke(ctx, id, tokenID)
		if err != nil {
			return err
		}
		return show(t)
	}
	fmt.Fprintf(stderr, "ledger users %s: not with --data-dir (a key is registered by its own user, through the API)\n", verb)
	return errUsage
}
