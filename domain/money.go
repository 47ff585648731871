package domain

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
)

// Fen is an amount of renminbi in fen (1 yuan = 100 fen; 1 万元 = 1,000,000 fen).
// Money is never a float anywhere in the ledger.
type Fen int64

// Wan is one 万元 in fen.
const Wan Fen = 1_000_000

// String formats the amount in yuan with two decimals, e.g. "12000000.00".
func (f Fen) String() string {
	sign := ""
	v := int64(f)
	if v < 0 {
		sign = "-"
		if v == math.MinInt64 {
			return "-92233720368547758.08"
		}
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// addFen returns a+b, or false when the sum overflows int64.
func addFen(a, b Fen) (Fen, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// share returns floor(amount × bp / 10000) without overflow for any amount a
// project can hold (bp is in basis points, 0..10000).
func share(amount Fen, bp int64) Fen {
	q, r := int64(amount)/10000, int64(amount)%10000
	return Fen(q*bp + r*bp/10000)
}

// basisPoints returns floor(part × 10000 / whole) for 0 ≤ part ≤ whole, whole > 0,
// without overflow.
func basisPoints(part, whole Fen) int64 {
	hi, lo := bits.Mul64(uint64(part), 10000)
	q, _ := bits.Div64(hi, lo, uint64(whole))
	return int64(q)
}

// Source is a funding source: whose money a subsidy is. Persisted: add new
// values only at the end of the list.
type Source string

const (
	SourceCentralBudget   Source = "central_budget"   // 中央预算内投资补助 (NDRC)
	SourceCentralFiscal   Source = "central_fiscal"   // 中央财政补助资金 (MoF, e.g. pilot-city subsidy)
	SourceProvincialFund  Source = "provincial_fund"  // 省循环经济发展专项资金
	SourceProvincialMatch Source = "provincial_match" // 省级配套 / 省级资金
	SourceCityFund        Source = "city_fund"        // 市专项资金
	SourceCountyFund      Source = "county_fund"      // 县（市、区）专项资金
)

// Sources lists every funding source in a stable order.
var Sources = []Source{SourceCentralBudget, SourceCentralFiscal, SourceProvincialFund, SourceProvincialMatch, SourceCityFund, SourceCountyFund}

// Valid reports whether s is a known funding source.
func (s Source) Valid() bool {
	for _, k := range Sources {
		if s == k {
			return true
		}
	}
	return false
}

// Amounts maps funding sources to amounts.
type Amounts map[Source]Fen

// Total is the sum over all sources (callers validate amounts, so it cannot overflow).
func (a Amounts) Total() Fen {
	var t Fen
	for _, v := range a {
		t += v
	}
	return t
}

// Clone returns a copy of a; nil stays nil.
func (a Amounts) Clone() Amounts {
	if a == nil {
		return nil
	}
	c := make(Amounts, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

// sortedSources returns the keys of a in a stable order.
func (a Amounts) sortedSources() []Source {
	ks := make([]Source, 0, len(a))
	for k := range a {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

// maxAmount bounds any single amount: 10^15 fen is ten trillion yuan, far above
// any project, and sums of a few thousand such amounts stay inside int64 and
// inside the 2^53 that JavaScript readers of the JSON can hold exactly.
const maxAmount Fen = 1_000_000_000_000_000

// MaxAmount is the largest single amount a command may carry (10^15 fen).
const MaxAmount = maxAmount

// validateAmounts checks that every source is known and every amount positive
// (or, with allowZero, non-negative) and bounded.
func validateAmounts(field string, a Amounts, allowZero bool) error {
	for _, s := range a.sortedSources() {
		v := a[s]
		f := field + "." + string(s)
		if !s.Valid() {
			return invalid(f, "unknown funding source %q", s)
		}
		if v < 0 || (v == 0 && !allowZero) {
			return invalid(f, "amount must be a positive number of fen, got %d", v)
		}
		if v > maxAmount {
			return invalid(f, "amount %d fen exceeds the limit %d", v, maxAmount)
		}
	}
	return nil
}
