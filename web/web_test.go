package web

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/zjfund/ledger/domain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestParseWan: amounts in 万元 read as fen exactly, or are refused.
func TestParseWan(t *testing.T) {
	for in, want := range map[string]int64{"150": 150_000_000, "12.5": 12_500_000, "0.000001": 1, "1,000": 1_000_000_000, "0": 0} {
		if got, err := parseWan(in); err != nil || got != want {
			t.Errorf("parseWan(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "abc", "0.0000001", "1e30"} {
		if got, err := parseWan(bad); err == nil {
			t.Errorf("parseWan(%q) = %d, want an error", bad, got)
		}
	}
}

// TestSafeNext: a sign-in only returns to this site.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/projects/X?as_of=2011-12-31": "/projects/X?as_of=2011-12-31", "https://evil.example/": "/",
		"//evil.example/x": "/", `/\evil.example`: "/", "": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFillReadsTheForm: a disbursement form read into the command as the
// API reads its JSON; a bad amount names its field.
func TestFillReadsTheForm(t *testing.T) {
	cmd := &domain.Disburse{}
	fields := fieldsOf("disburse", cmd)
	vals := url.Values{"effective_time": {"2009-09-01T10:00"}, "source": {"central_budget"}, "amount": {"300"}, "basis": {"进度检查"}}
	if err := fill(cmd, fields, vals); err != nil {
		t.Fatal(err)
	}
	if cmd.Amount != 300*domain.Wan || cmd.Source != domain.SourceCentralBudget || cmd.Basis != "进度检查" ||
		cmd.EffectiveTime.Format("2006-01-02T15:04Z07:00") != "2009-09-01T10:00+08:00" {
		t.Fatalf("%+v", cmd)
	}
	vals.Set("amount", "3e")
	var fe *fieldError
	if err := fill(&domain.Disburse{}, fields, vals); err == nil || !asField(err, &fe) || fe.field != "amount" {
		t.Fatalf("a bad amount: %v", err)
	}
	dc := &domain.DecideChange{}
	if err := fill(dc, fieldsOf("decide_change", dc), url.Values{"change": {"C1"}, "outcome": {"approved"}, "effective_time": {"2010-01-01"}}); err != nil || dc.ChangeID != "C1" {
		t.Fatalf("decide_change: %v %+v", err, dc)
	}
}

func asField(err error, fe **fieldError) bool {
	e, ok := err.(*fieldError)
	*fe = e
	return ok
}

// TestEveryMessageIsTranslated: each message the pages say through T or Tf
// has its Chinese.
func TestEveryMessageIsTranslated(t *testing.T) {
	re := regexp.MustCompile(`\.T[f]? "([^"]+)"|v\.T[f]?\("([^"]+)"`)
	var files []string
	for _, pattern := range []string{"templates/*.html", "*.go"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			msg := m[1] + m[2]
			n++
			if _, ok := zhMessages[msg]; !ok {
				t.Errorf("%s: %q has no Chinese", f, msg)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d messages found", n)
	}
}
