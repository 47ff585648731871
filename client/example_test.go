package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/nats-io/nats.go"

	"github.com/zjfund/ledger/client"
	"github.com/zjfund/ledger/domain"
)

// A city commission registers a project of Zhejiang's 991 plan, the
// province reviews it and awards the provincial fund, and the finance
// bureau pays; a payment above the award is refused by rule R6, and a
// command on a stale version of the project by its If-Match.
func ExampleClient_Do() {
	ctx := context.Background()
	city, _ := client.New(ledgerURL, client.WithToken(cityToken))
	province, _ := client.New(ledgerURL, client.WithToken(provinceToken))
	finance, _ := client.New(ledgerURL, client.WithToken(financeToken))

	rec, err := city.Register(ctx, &domain.RegisterProject{
		At: domain.At{EffectiveTime: day("2010-12-21")}, ID: "EX-991-01",
		Name: "余热回收利用项目", Owner: "浙江某化工有限公司", City: "330600", County: "330682",
		Category: "waste_heat", Programmes: []string{"zj_991"},
		TotalInvestment: 8000 * domain.Wan, PlannedStart: "2011-01-01", PlannedEnd: "2012-06-30",
		Requested: domain.Amounts{domain.SourceProvincialFund: 300 * domain.Wan},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered", rec.Project, "with", len(rec.Events), "event")
	registered := rec.Version

	rec, err = province.Do(ctx, "EX-991-01", &domain.RecordReview{At: domain.At{EffectiveTime: day("2011-03-31")}, Outcome: "passed", Reference: "浙发改资环〔2011〕评审"}, client.IfMatch(rec.Version))
	if err != nil {
		log.Fatal(err)
	}
	rec, err = province.Do(ctx, "EX-991-01", &domain.IssueInvestmentPlan{At: domain.At{EffectiveTime: day("2011-05-20")},
		Reference: "浙发改函〔2011〕89号", Awards: domain.Amounts{domain.SourceProvincialFund: 300 * domain.Wan}}, client.IfMatch(rec.Version))
	if err != nil {
		log.Fatal(err)
	}
	rec, err = finance.Do(ctx, "EX-991-01", &domain.Disburse{At: domain.At{EffectiveTime: day("2011-06-01")},
		Source: domain.SourceProvincialFund, Amount: 150 * domain.Wan, Basis: "计划下达"}, client.IdempotencyKey("EX-991-01-first-tranche"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid:", rec.Events[0].Type)

	_, err = finance.Do(ctx, "EX-991-01", &domain.Disburse{At: domain.At{EffectiveTime: day("2011-07-01")},
		Source: domain.SourceProvincialFund, Amount: 200 * domain.Wan, Basis: "进度"})
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Println("refused:", p.Status, p.Code, p.Rule)
	}
	_, err = province.Do(ctx, "EX-991-01", &domain.RecordReview{At: domain.At{EffectiveTime: day("2011-03-31")}, Outcome: "passed"}, client.IfMatch(registered))
	if errors.As(err, &p) {
		fmt.Println("refused:", p.Status, p.Code, "current version known:", p.CurrentVersion > registered)
	}
	// Output:
	// registered EX-991-01 with 1 event
	// paid: ledger.project.funds_disbursed.v1
	// refused: 409 over-award R6
	// refused: 412 stale-version current version known: true
}

// Read a project's figures right after writing to it (read-your-writes),
// and as of an earlier date.
func ExampleClient_Project() {
	ctx := context.Background()
	city, _ := client.New(ledgerURL, client.WithToken(cityToken))
	rec, err := city.Register(ctx, &domain.RegisterProject{
		At: domain.At{EffectiveTime: day("2011-02-01")}, ID: "EX-991-02",
		Name: "中水回用项目", Owner: "浙江某印染有限公司", City: "330600", County: "330682",
		Category: "water_saving", Programmes: []string{"zj_991"},
		TotalInvestment: 5000 * domain.Wan, PlannedStart: "2011-03-01", PlannedEnd: "2012-12-31",
		Requested: domain.Amounts{domain.SourceProvincialFund: 200 * domain.Wan},
	})
	if err != nil {
		log.Fatal(err)
	}
	p, err := city.Project(ctx, "EX-991-02", client.MinPosition(rec.Position))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %d万\n", p.ID, p.Status, p.TotalInvestment/domain.Wan)
	_, err = city.Project(ctx, "EX-991-02", client.AsOfDate("2011-01-31"))
	fmt.Println("before it was registered:", client.IsCode(err, "project-not-found"))
	// Output:
	// EX-991-02 applied 5000万
	// before it was registered: true
}

// Walk the project list page by page: the iterator follows the cursor.
func ExampleClient_Projects() {
	ctx := context.Background()
	auditor, _ := client.New(ledgerURL, client.WithToken(auditorToken))
	n := 0
	for row, err := range auditor.Projects(ctx, client.Filter{County: "330682", Programme: "zj_991"}, client.ListOptions{Sort: "id", PageSize: 1}) {
		if err != nil {
			log.Fatal(err)
		}
		if row.ID == "EX-991-01" || row.ID == "EX-991-02" {
			n++
		}
	}
	fmt.Println("found", n, "example projects, one per page")
	// Output:
	// found 2 example projects, one per page
}

// Follow the Server-Sent Event feed of one project from the start.
func ExampleClient_Events() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auditor, _ := client.New(ledgerURL, client.WithToken(auditorToken))
	for e, err := range auditor.Events(ctx, client.StreamQuery{Project: "EX-991-01", FromSeq: 1}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Type, e.Actor)
		if e.Type == "ledger.project.funds_disbursed.v1" {
			break
		}
	}
	// Output:
	// ledger.project.project_registered.v1 绍兴市发改委
	// ledger.project.provincial_review_passed.v1 李强
	// ledger.project.investment_plan_issued.v1 李强
	// ledger.project.funds_disbursed.v1 陈静
}

// A downstream system with a NATS identity consumes the stream through a
// durable consumer of its own: every event at least once, in order, across
// its restarts.
func ExampleConsume() {
	nc, err := nats.Connect(natsURL, client.NATSInbox("reader"))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = client.Consume(ctx, nc, "example-statistics", "ledger.*.*.EX-991-02.>", func(e client.Event) error {
		fmt.Println(e.Seq > 0, e.Type, e.Subject)
		cancel() // one is enough here
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// true ledger.project.project_registered.v1 EX-991-02
}
