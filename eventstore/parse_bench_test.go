package eventstore

import (
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
)

func BenchmarkParse(b *testing.B) {
	env := &Envelope{SpecVersion: "1.0", ID: "01a22461-80e3-73d3-8a5f-e4b847367b2e", Source: "urn:ledger:zhejiang", Type: TypePrefix + "funds_disbursed.v1",
		Subject: "SY-2009-01", Time: time.Now(), DataContentType: "application/json", RecordedTime: time.Now().UTC(), Actor: "上虞市财政局", ActorRole: "finance",
		CorrelationID: "01a22461-80e3-73d3-8a5f-e4b847367b2e", CausationID: "01a22461-80e3-73d3-8a5f-e4b847367b2e", PrevHash: "257d1dcd584b5b17ff648dd8380455f1c209e0b6383edd295b792ec70afd1638",
		Data: []byte(`{"source":"central_budget","amount":3000000000,"tranche":2,"basis":"第2期，按进度检查拨付（补足）"}`)}
	raw, _, err := seal(env)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := domain.DecodeEvent(e.EventType(), e.Data); err != nil {
			b.Fatal(err)
		}
	}
}
