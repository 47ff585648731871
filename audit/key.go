package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// LoadOrCreateKey returns the checkpoint signer whose private key is in the
// file at path, creating the key (mode 0600, and its public key at
// path+".pub") on first use; name names the key in signatures. It returns
// the public key in note verifier form ("name+hash+base64").
func LoadOrCreateKey(path, name string) (note.Signer, string, bool, error) {
	b, err := os.ReadFile(path)
	created := false
	if errors.Is(err, os.ErrNotExist) {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			return nil, "", false, fmt.Errorf("create checkpoint key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, "", false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", false, fmt.Errorf("create checkpoint key: %w", err)
		}
		if _, err := f.WriteString(skey + "\n"); err != nil {
			f.Close()
			return nil, "", false, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, "", false, err
		}
		if err := f.Close(); err != nil {
			return nil, "", false, err
		}
		if err := os.WriteFile(path+".pub", []byte(vkey+"\n"), 0o644); err != nil {
			return nil, "", false, err
		}
		b, created = []byte(skey), true
	} else if err != nil {
		return nil, "", false, fmt.Errorf("read checkpoint key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, "", false, fmt.Errorf("checkpoint key %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", false, fmt.Errorf("checkpoint key %s: %w", path, err)
	}
	vkey, err := PublicKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", false, err
	}
	return s, vkey, created, nil
}

// PublicKey derives the verifier key from a note signer key.
func PublicKey(skey string) (string, error) {
	// PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", fmt.Errorf("not a signer key")
	}
	priv, err := decodeKey(parts[4])
	if err != nil {
		return "", err
	}
	return note.NewEd25519VerifierKey(parts[2], priv.Public().(ed25519.PublicKey))
}

// decodeKey decodes the algorithm byte and Ed25519 seed of a note signer key.
func decodeKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 1+ed25519.SeedSize || b[0] != 1 {
		return nil, fmt.Errorf("not an Ed25519 signer key")
	}
	return ed25519.NewKeyFromSeed(b[1:]), nil
}
