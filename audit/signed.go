package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/httpsig"
)

// KeyLookup returns the public key a user held under keyID at time at, from
// the ledger's user directory.
type KeyLookup func(user, keyID string, at time.Time) (ed25519.PublicKey, error)

// checkSigned checks a signed command's record, on the first event of the
// command: the Ed25519 signature over the recorded base with the recorded
// key; that key is the author's as the directory held it at the recorded
// time (when keys is given); the base's Content-Digest is the recorded
// body's; the base's method and path with the body give the recorded request
// digest; and the body, decoded as the API decodes it, is the command that
// yields the first event. Nothing is checked for an unsigned command.
func checkSigned(env *eventstore.Envelope, first domain.Event, keys KeyLookup) error {
	if env.Signature == "" && env.SignatureBase == "" && env.SignedBody == "" {
		return nil
	}
	pub, err := base64.StdEncoding.DecodeString(env.SignatureKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("its signature key is not an Ed25519 public key")
	}
	body, err := base64.StdEncoding.DecodeString(env.SignedBody)
	if err != nil {
		return fmt.Errorf("its signed body is not base64")
	}
	d, err := httpsfv.UnmarshalDictionary([]string{env.Signature})
	if err != nil || len(d.Names()) != 1 {
		return fmt.Errorf("its signature is not one Signature field member")
	}
	m, _ := d.Get(d.Names()[0])
	it, ok := m.(httpsfv.Item)
	sig, ok2 := it.Value.([]byte)
	if !ok || !ok2 {
		return fmt.Errorf("its signature is not a byte sequence")
	}
	if !ed25519.Verify(ed25519.PublicKey(pub), []byte(env.SignatureBase), sig) {
		return fmt.Errorf("its signature does not verify over its signature base with key %s", env.SignatureKeyID)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(env.SignatureBase, "\n") {
		name, value, ok := strings.Cut(l, ": ")
		if ok {
			lines[strings.Trim(name, `"`)] = value
		}
	}
	if !strings.Contains(lines["@signature-params"], `keyid="`+env.SignatureKeyID+`"`) {
		return fmt.Errorf("its signature base does not name key %s", env.SignatureKeyID)
	}
	if err := httpsig.CheckContentDigest([]string{lines["content-digest"]}, body); err != nil {
		return fmt.Errorf("the signed Content-Digest is not the recorded body's: %v", err)
	}
	path, err := url.PathUnescape(lines["@path"])
	if err != nil {
		return fmt.Errorf("the signed path: %v", err)
	}
	sum := sha256.Sum256(append([]byte(lines["@method"]+" "+path+"\n"), body...))
	if hex.EncodeToString(sum[:]) != env.RequestDigest {
		return fmt.Errorf("the signed method, path and body are not the request recorded (its digest differs)")
	}
	if err := domain.CheckSignedBody(first, env.Time, body); err != nil {
		return fmt.Errorf("the signed body is not the command recorded: %v", err)
	}
	if keys != nil {
		held, err := keys(env.ActorID, env.SignatureKeyID, env.RecordedTime)
		if err != nil {
			return fmt.Errorf("its key is not the author's: %v", err)
		}
		if !held.Equal(ed25519.PublicKey(pub)) {
			return fmt.Errorf("its key %s is not the one user %s held at %s", env.SignatureKeyID, env.ActorID, env.RecordedTime.Format(time.RFC3339))
		}
	}
	return nil
}
