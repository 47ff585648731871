package webhooks

import (
	"net"
	"testing"

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
