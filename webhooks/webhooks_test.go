package webhooks

import (
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestInternalAddresses: the addresses a webhook may not target unless the
// operator allows internal ones.
func TestInternalAddresses(t *testing.T) {
	for ip, internalWant := range map[string]bool{
		"127.0.0.1": true, "::1": true, "10.0.0.1": true, "172.16.3.4": true, "192.168.1.1": true,
		"169.254.169.254": true, "169.254.10.1": true, "fd00:ec2::254": true, "fe80::1": true, "100.64.0.1": true,
		"0.0.0.0": true, "224.0.0.1": true,
		"8.8.8.8": false, "202.96.209.133": false, "2001:4860:4860::8888": false,
	} {
		if got := internal(net.ParseIP(ip)) != ""; got != internalWant {
			t.Errorf("%s: internal %v, want %v", ip, got, internalWant)
		}
	}
}

// TestMaskURL: credentials and query values never shown.
func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pass@hooks.example.com/in?token=s3cret&b=2": "https://***@hooks.example.com/in?b=***&token=***",
		"http://hooks.example.com/in":                             "http://hooks.example.com/in",
		"::not a url":                                             "(unparsable URL)",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStandardSignature: the signature a Standard Webhooks receiver's
// library verifies, for a "whsec_" secret (its decoded bytes the key) and
// for a plain one (its bytes the key).
func TestStandardSignature(t *testing.T) {
	body := []byte(`{"specversion":"1.0","id":"e-1"}`)
	now := time.Now()
	for _, c := range []struct {
		secret string
		verify func() (*standardwebhooks.Webhook, error)
	}{
		{"whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567")), func() (*standardwebhooks.Webhook, error) {
			return standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567")))
		}},
		{"a-very-secret-webhook-key", func() (*standardwebhooks.Webhook, error) {
			return standardwebhooks.NewWebhookRaw([]byte("a-very-secret-webhook-key"))
		}},
	} {
		sig, err := StandardSignature(c.secret, "e-1", now, body)
		if err != nil {
			t.Fatal(err)
		}
		wh, err := c.verify()
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(HeaderID, "e-1")
		h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(HeaderSignature, sig)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("secret %q: %v", c.secret, err)
		}
		if err := wh.Verify(append(body, ' '), h); err == nil {
			t.Errorf("secret %q: a changed body verified", c.secret)
		}
	}
}

// TestSecrets: what a registration's secret may be.
func TestSecrets(t *testing.T) {
	for secret, ok := range map[string]bool{
		"a-very-secret-webhook-key": true,
		"short":                     false,
		strings.Repeat("x", 257):    false,
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)): true,
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 8)):  false,
		"whsec_not base64!!!!!!!!!!!!!!!!!!!!!!!!":                     false,
	} {
		if _, err := signingKey(secret); (err == nil) != ok {
			t.Errorf("secret %.20q: err %v, want ok=%v", secret, err, ok)
		}
	}
}

// TestRetryDelayIsJittered: each delay in the upper half of the doubled
// base (capped at a minute), and not the same every time.
func TestRetryDelayIsJittered(t *testing.T) {
	for n, full := range map[uint64]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 30: time.Minute} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := retryDelay(time.Second, n)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct delays in 200", n, len(seen))
		}
	}
}
