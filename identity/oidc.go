package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Claims names, for OpenID Connect, the claims of an ID token that give a
// user's fields. Roles may be a list or a space- or comma-separated string.
type Claims struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Org    string `json:"org"`
	Roles  string `json:"roles"`
	Region string `json:"region"`
	Owner  string `json:"owner_org"`
}

// DefaultClaims are the claim names used when the operator names none.
var DefaultClaims = Claims{ID: "preferred_username", Name: "name", Org: "org", Roles: "ledger_roles", Region: "ledger_region", Owner: "ledger_owner_org"}

// OIDC authenticates bearer tokens that are ID tokens of an external
// OpenID Connect provider (an office's single sign-on): signed by the
// issuer's keys, for this audience, unexpired. The user is made from the
// token's claims; its id is prefixed "oidc:" so that it never meets a local
// user's.
type OIDC struct {
	verifier *oidc.IDTokenVerifier
	claims   Claims
	issuer   string
}

// NewOIDC discovers the issuer's configuration and keys.
func NewOIDC(ctx context.Context, issuer, audience string, claims Claims) (*OIDC, error) {
	if audience == "" {
		return nil, fmt.Errorf("%w: an OpenID Connect issuer needs the audience (client id) its tokens are for", ErrInvalid)
	}
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("OpenID Connect issuer %s: %w", issuer, err)
	}
	fill := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	fill(&claims.ID, DefaultClaims.ID)
	fill(&claims.Name, DefaultClaims.Name)
	fill(&claims.Org, DefaultClaims.Org)
	fill(&claims.Roles, DefaultClaims.Roles)
	fill(&claims.Region, DefaultClaims.Region)
	fill(&claims.Owner, DefaultClaims.Owner)
	return &OIDC{verifier: p.Verifier(&oidc.Config{ClientID: audience}), claims: claims, issuer: issuer}, nil
}

// Authenticate verifies an ID token and returns the user its claims make.
func (o *OIDC) Authenticate(ctx context.Context, raw string) (User, error) {
	tok, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return User{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	var c map[string]any
	if err := tok.Claims(&c); err != nil {
		return User{}, fmt.Errorf("%w: the token's claims: %v", ErrUnauthenticated, err)
	}
	str := func(name string) string {
		v, _ := c[name].(string)
		return v
	}
	u := User{ID: "oidc:" + str(o.claims.ID), Name: str(o.claims.Name), Org: str(o.claims.Org), Region: str(o.claims.Region), Owner: str(o.claims.Owner)}
	if str(o.claims.ID) == "" {
		u.ID = "oidc:" + tok.Subject
	}
	switch r := c[o.claims.Roles].(type) {
	case []any:
		for _, x := range r {
			if s, ok := x.(string); ok {
				u.Roles = append(u.Roles, s)
			}
		}
	case string:
		u.Roles = strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == ' ' })
	}
	check := u
	check.ID = strings.TrimPrefix(u.ID, "oidc:") // the prefix's colon is not a user-id character
	if err := check.Validate(); err != nil {
		return User{}, fmt.Errorf("%w: the token's claims do not make a user of this ledger (claims %s): %v", ErrUnauthenticated, o.describe(), err)
	}
	return u, nil
}

func (o *OIDC) describe() string {
	b, _ := json.Marshal(o.claims)
	return string(b)
}

// Chain authenticates with the directory's tokens and, for tokens shaped as
// JWTs when an OpenID Connect issuer is configured, with the issuer.
type Chain struct {
	Directory *Directory
	OIDC      *OIDC // nil: none
}

// Authenticate implements the API's Authenticator.
func (c Chain) Authenticate(token string) (User, error) {
	if c.OIDC != nil && strings.Count(token, ".") == 2 && !strings.HasPrefix(token, TokenPrefix) {
		return c.OIDC.Authenticate(context.Background(), token)
	}
	return c.Directory.Authenticate(token)
}
