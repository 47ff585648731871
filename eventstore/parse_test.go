package eventstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestParseReadsAsEncodingJSONDid: the faster decoder reads every field of
// a sealed envelope exactly as encoding/json does, and an envelope it is
// stricter about (a duplicate name) is still read, as before.
func TestParseReadsAsEncodingJSONDid(t *testing.T) {
	cst := time.FixedZone("", 8*3600)
	env := &Envelope{SpecVersion: "1.0", ID: "01a22461-80e3-73d3-8a5f-e4b847367b2e", Source: "urn:ledger:zhejiang", Type: TypePrefix + "funds_disbursed.v1",
		Subject: "ledger.330600.330682.SY-2009-01.funds_disbursed", Time: time.Date(2009, 9, 1, 10, 0, 0, 0, cst), DataContentType: "application/json",
		RecordedTime: time.Date(2026, 11, 30, 10, 0, 0, 123456789, time.UTC), Actor: "上虞市财政局 <陈静> & co", ActorRole: "finance", ActorID: "chenjing",
		ActorOrg: "上虞市财政局", CorrelationID: "c-1", CausationID: "c-2", IdempotencyKey: "k\"1\\", RequestDigest: "ab", Rulebook: "2",
		Signature: "sig1=:AAAA+/==:", SignatureBase: "\"@method\": POST\n\"@path\": /v1/x", SignatureKeyID: "k1", SignatureKey: "a+b/c=", SignedBody: "e30=",
		PrevHash: "257d1dcd584b5b17ff648dd8380455f1c209e0b6383edd295b792ec70afd1638",
		Data:     []byte(`{"source":"central_budget","amount":3000000000,"basis":"第2期\u2028（补足）"}`)}
	raw, _, err := seal(env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var want Envelope
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) || got.Time.String() != want.Time.String() {
		t.Fatalf("read\n%+v\nwant\n%+v", *got, want)
	}
	// A duplicate member, which encoding/json/v2 refuses: read as before.
	dup := bytes.Replace(raw, []byte(`"actorrole":"finance"`), []byte(`"actorrole":"owner","actorrole":"finance"`), 1)
	got, err = Parse(dup)
	if err == nil || got == nil || got.ActorRole != "finance" {
		// the hash no longer matches the changed bytes, but the envelope reads
		t.Fatalf("a duplicate member: %v %+v", err, got)
	}
}
