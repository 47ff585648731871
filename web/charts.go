package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/zjfund/ledger/client"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/projections"
)

// The charts are drawn here as SVG, in the page: no script, no library;
// each has a title and a description for screen readers, and its figures
// are in the tables next to it.

const (
	colAwarded   = "#1f5f99"
	colDisbursed = "#c0392b"
	colProgress  = "#2e7d32"
)

// statusColours colour the statuses, in lifecycle order.
var statusOrder = []domain.Status{
	domain.StatusApplied, domain.StatusScreened, domain.StatusReportSubmitted, domain.StatusProvinciallyApproved, domain.StatusReplyReceived,
	domain.StatusImplementing, domain.StatusCompleted, domain.StatusPreparingAcceptance, domain.StatusAcceptanceRequested, domain.StatusAccepted,
	domain.StatusAcceptanceFailed, domain.StatusReviewRejected, domain.StatusTerminated, domain.StatusClosed,
}

var statusColours = []string{"#9e9e9e", "#8d6e63", "#6d4c41", "#5c6bc0", "#3949ab", "#1e88e5", "#00897b", "#43a047", "#7cb342", "#2e7d32",
	"#f9a825", "#ef6c00", "#c62828", "#424242"}

func esc(s string) string { return template.HTMLEscapeString(s) }

// legendItem draws a legend's coloured square at x, y and its words.
func legendItem(b *strings.Builder, x, y int, colour, text string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" class="label">%s</text>`, x, y, colour, x+16, y+11, esc(text))
}

// awardChart is the award and disbursement per region, in 万元.
func (v *view) awardChart(groups []*client.Group) template.HTML {
	if len(groups) == 0 {
		return ""
	}
	var maxV domain.Fen = 1
	for _, g := range groups {
		maxV = max(maxV, g.Totals.Awarded, g.Totals.Disbursed)
	}
	const left, width, row = 110, 420, 30
	h := len(groups)*row + 40
	var b strings.Builder
	title := v.T("Award and disbursement")
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="award-title award-desc" xmlns="http://www.w3.org/2000/svg">`, left+width+110, h)
	fmt.Fprintf(&b, `<title id="award-title">%s</title><desc id="award-desc">%s</desc>`, esc(title), esc(v.T("amounts in 万元")))
	for i, g := range groups {
		y := i*row + 4
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="label">%s</text>`, left-6, y+16, esc(v.Region(g.Key)))
		for j, bar := range []struct {
			v   domain.Fen
			col string
		}{{g.Totals.Awarded, colAwarded}, {g.Totals.Disbursed, colDisbursed}} {
			w := int(int64(bar.v) * width / int64(maxV))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="11" fill="%s"><title>%s %s</title></rect>`, left, y+j*12+2, max(w, 1), bar.col,
				esc(v.Region(g.Key)), esc(projections.Wan(int64(bar.v))))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="value">%s / %s</text>`, left+width+6, y+16, esc(projections.Wan(int64(g.Totals.Awarded))), esc(projections.Wan(int64(g.Totals.Disbursed))))
	}
	ly := len(groups)*row + 20
	legendItem(&b, left, ly, colAwarded, v.T("Awarded"))
	legendItem(&b, left+140, ly, colDisbursed, v.T("Disbursed"))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// statusChart is each region's projects by status, stacked.
func (v *view) statusChart(groups []*client.Group) template.HTML {
	if len(groups) == 0 {
		return ""
	}
	maxN := 1
	for _, g := range groups {
		maxN = max(maxN, g.Projects)
	}
	const left, width, row = 110, 460, 22
	used := map[domain.Status]bool{}
	for _, g := range groups {
		for s, n := range g.ByStatus {
			if n > 0 {
				used[s] = true
			}
		}
	}
	var legend []int
	for i, s := range statusOrder {
		if used[s] {
			legend = append(legend, i)
		}
	}
	legendRows := (len(legend) + 3) / 4
	h := len(groups)*row + 16 + legendRows*18
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="status-title" xmlns="http://www.w3.org/2000/svg">`, left+width+60, h)
	fmt.Fprintf(&b, `<title id="status-title">%s</title>`, esc(v.T("Status by region")))
	for i, g := range groups {
		y := i * row
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="label">%s</text>`, left-6, y+14, esc(v.Region(g.Key)))
		x := left
		for k, s := range statusOrder {
			n := g.ByStatus[s]
			if n == 0 {
				continue
			}
			w := n * width / maxN
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="16" fill="%s"><title>%s: %s %d</title></rect>`, x, y+2, max(w, 1), statusColours[k],
				esc(v.Region(g.Key)), esc(v.Status(s)), n)
			x += w
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="value">%d</text>`, x+4, y+14, g.Projects)
	}
	for i, k := range legend {
		x, y := 10+(i%4)*145, len(groups)*row+10+(i/4)*18
		legendItem(&b, x, y, statusColours[k], v.Status(statusOrder[k]))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// progressChart follows a project over time: the share of its award
// disbursed, and the share of its investment completed, as each step
// recorded them.
func (v *view) progressChart(p *client.Project, tl *client.Timeline) template.HTML {
	if len(tl.Entries) == 0 {
		return ""
	}
	type point struct {
		t        time.Time
		paid, in int64 // basis points
	}
	var pts []point
	var paid, done int64
	for _, e := range tl.Entries {
		var awarded, disbursed domain.Fen
		for _, a := range e.Awarded {
			awarded += a
		}
		for _, d := range e.Disbursed {
			disbursed += d
		}
		if awarded > 0 {
			paid = min(int64(disbursed)*10000/int64(awarded), 10000)
		}
		var d struct {
			InvestmentCompleted domain.Fen `json:"investment_completed"`
			ActualInvestment    domain.Fen `json:"actual_total_investment"`
		}
		if json.Unmarshal(e.Data, &d) == nil && p.TotalInvestment > 0 {
			if d.InvestmentCompleted > 0 {
				done = min(int64(d.InvestmentCompleted)*10000/int64(p.TotalInvestment), 10000)
			}
			if d.ActualInvestment > 0 {
				done = 10000
			}
		}
		pts = append(pts, point{e.Effective, paid, done})
	}
	start, end := pts[0].t, pts[len(pts)-1].t
	if !end.After(start) {
		end = start.Add(24 * time.Hour)
	}
	const left, top, width, height = 50, 10, 520, 160
	x := func(t time.Time) int { return left + int(int64(t.Sub(start))*width/int64(end.Sub(start))) }
	y := func(bp int64) int { return top + height - int(bp*height/10000) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="progress-title progress-desc" xmlns="http://www.w3.org/2000/svg">`, left+width+20, top+height+60)
	fmt.Fprintf(&b, `<title id="progress-title">%s</title><desc id="progress-desc">%s</desc>`, esc(v.T("Progress and disbursement")),
		esc(v.T("share of the award disbursed")+"; "+v.T("share of the investment completed")))
	for _, bp := range []int64{0, 5000, 10000} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="grid"/><text x="%d" y="%d" text-anchor="end" class="label">%d%%</text>`,
			left, left+width, y(bp), y(bp), left-6, y(bp)+4, bp/100)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="label">%s</text><text x="%d" y="%d" text-anchor="end" class="label">%s</text>`,
		left, top+height+16, start.In(cst).Format("2006-01-02"), left+width, top+height+16, end.In(cst).Format("2006-01-02"))
	for _, s := range []struct {
		col  string
		val  func(point) int64
		name string
	}{{colDisbursed, func(p point) int64 { return p.paid }, v.T("share of the award disbursed")}, {colProgress, func(p point) int64 { return p.in }, v.T("share of the investment completed")}} {
		var path strings.Builder
		for i, pt := range pts {
			if i == 0 {
				fmt.Fprintf(&path, "M%d %d", x(pt.t), y(s.val(pt)))
				continue
			}
			fmt.Fprintf(&path, " H%d V%d", x(pt.t), y(s.val(pt)))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2.5"><title>%s</title></path>`, path.String(), s.col, esc(s.name))
	}
	ly := top + height + 34
	legendItem(&b, left, ly, colDisbursed, v.T("share of the award disbursed"))
	legendItem(&b, left+260, ly, colProgress, v.T("share of the investment completed"))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// shareChart sets, per region, the share of the award disbursed against
// the share of the investment completed: money against progress.
func (v *view) shareChart(groups []*client.Group) template.HTML {
	if len(groups) == 0 {
		return ""
	}
	const left, width, row = 110, 400, 30
	h := len(groups)*row + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="share-title share-desc" xmlns="http://www.w3.org/2000/svg">`, left+width+120, h)
	fmt.Fprintf(&b, `<title id="share-title">%s</title><desc id="share-desc">%s</desc>`, esc(v.T("Disbursement against progress")),
		esc(v.T("share of the award disbursed")+"; "+v.T("share of the investment completed")))
	share := func(part, whole domain.Fen) int64 {
		if whole <= 0 {
			return 0
		}
		return min(int64(part)*10000/int64(whole), 10000)
	}
	for i, g := range groups {
		y := i*row + 4
		paid, done := share(g.Totals.Disbursed, g.Totals.Awarded), share(g.InvestmentCompleted, g.TotalInvestment)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="label">%s</text>`, left-6, y+16, esc(v.Region(g.Key)))
		for j, bar := range []struct {
			bp  int64
			col string
		}{{paid, colDisbursed}, {done, colProgress}} {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="11" fill="%s"/>`, left, y+j*12+2, max(int(bar.bp*width/10000), 1), bar.col)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="value">%d%% / %d%%</text>`, left+width+6, y+16, paid/100, done/100)
	}
	ly := len(groups)*row + 20
	legendItem(&b, left, ly, colDisbursed, v.T("share of the award disbursed"))
	legendItem(&b, left+200, ly, colProgress, v.T("share of the investment completed"))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// yearChart is the investment completed each year (万元), as the reports
// count it ("2011年完成投资").
func (v *view) yearChart(g *client.Group) template.HTML {
	if g == nil || len(g.InvestmentCompletedByYear) == 0 {
		return ""
	}
	years := make([]string, 0, len(g.InvestmentCompletedByYear))
	var maxV domain.Fen = 1
	for y, f := range g.InvestmentCompletedByYear {
		years = append(years, y)
		maxV = max(maxV, f)
	}
	sort.Strings(years)
	const left, top, height, col = 20, 20, 150, 56
	w := left + len(years)*col + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart narrow" viewBox="0 0 %d %d" role="img" aria-labelledby="year-title" xmlns="http://www.w3.org/2000/svg">`, w, top+height+40)
	fmt.Fprintf(&b, `<title id="year-title">%s</title>`, esc(v.T("Investment completed by year")))
	for i, y := range years {
		f := g.InvestmentCompletedByYear[y]
		hgt := int(int64(f) * height / int64(maxV))
		x := left + i*col
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %s</title></rect>`, x+8, top+height-hgt, col-16, max(hgt, 1), colAwarded, esc(y), esc(projections.Wan(int64(f))))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="value">%s</text>`, x+col/2, top+height-hgt-4, esc(projections.Wan(int64(f))))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="label">%s</text>`, x+col/2, top+height+16, esc(y))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
