package httpapi

import (
	"net/http"
	"strings"

	"github.com/zjfund/ledger/domain"
)

// commandRoute is one POST that records a step of a project's life.
type commandRoute struct {
	pattern   string // net/http pattern
	operation string // OpenAPI operationId
	summary   string
	newCmd    func(r *http.Request) domain.Command
}

// commandRoutes are every command of the API. The OpenAPI document is built
// from this table, so a command route cannot be undocumented.
var commandRoutes = []commandRoute{
	{"POST /v1/projects", "registerProject", "Register a project: the owner's application (owner, region, category, programmes, investment, planned period, subsidy requested per source).",
		func(*http.Request) domain.Command { return &domain.RegisterProject{} }},
	{"POST /v1/projects/{id}/screening", "screenProject", "Screen a central-budget candidate against R2: investment completed at application at most 40% of the total, a warning above 30% (only on programmes whose path has screening; see /v1/programmes).",
		func(*http.Request) domain.Command { return &domain.Screen{} }},
	{"POST /v1/projects/{id}/application-report", "submitApplicationReport", "File the fund-application report with the attachments its programme requires (R3; the energy review only for applications from 2010-10-01; other documents as kind other).",
		func(*http.Request) domain.Command { return &domain.SubmitApplicationReport{} }},
	{"POST /v1/projects/{id}/review", "recordReview", "Record the review by the programme's reviewer (the province; the city for a city programme; the NDRC's expert review for a national pilot): passed or rejected.",
		func(*http.Request) domain.Command { return &domain.RecordReview{} }},
	{"POST /v1/projects/{id}/national-reply", "recordNationalReply", "Record the NDRC's reply letter (复函), needed before a national programme's plan (R4).",
		func(*http.Request) domain.Command { return &domain.RecordNationalReply{} }},
	{"POST /v1/projects/{id}/investment-plan", "issueInvestmentPlan", "Issue the investment plan: the award per funding source (R4).",
		func(*http.Request) domain.Command { return &domain.IssueInvestmentPlan{} }},
	{"POST /v1/projects/{id}/special-account", "openSpecialAccount", "Record the dedicated bank account that receives the subsidy (R5).",
		func(*http.Request) domain.Command { return &domain.OpenSpecialAccount{} }},
	{"POST /v1/projects/{id}/disbursements", "disburse", "Pay a tranche from one funding source (R6): never above the award; for central-budget projects not before the special account (R5) nor beyond the award times the progress last reported or inspected; not once termination is recognised (R12); not beyond the pre-disbursement share before the pilot assessment (R18).",
		func(*http.Request) domain.Command { return &domain.Disburse{} }},
	{"POST /v1/projects/{id}/disbursements/{preparation}/approval", "approveDisbursement", "Approve a tranche prepared above the ledger's four-eyes amount (--four-eyes-above): a finance user other than its preparer; records the approval and the payment atomically, the rules of a disbursement checked again.",
		func(r *http.Request) domain.Command {
			return &domain.ApproveDisbursement{PreparationID: r.PathValue("preparation")}
		}},
	{"POST /v1/projects/{id}/pilot-assessment", "passPilotAssessment", "Record that the pilot city passed its assessment, releasing the rest of the award (R18).",
		func(*http.Request) domain.Command { return &domain.PassPilotAssessment{} }},
	{"POST /v1/projects/{id}/progress-reports", "reportProgress", "File a progress report: investment completed to date and physical progress (R7).",
		func(*http.Request) domain.Command { return &domain.ReportProgress{} }},
	{"POST /v1/projects/{id}/changes", "requestChange", "Request a change that needs approval: content (R8), owner rename (R9) or total investment (R10, never below the awards). A pending change holds nothing back unless the programme's table says so (changes_block).",
		func(*http.Request) domain.Command { return &domain.RequestChange{} }},
	{"POST /v1/projects/{id}/changes/{change}/decision", "decideChange", "Approve or reject a pending change (a central project's above the city); an approval records the approval and the change taking effect, atomically.",
		func(r *http.Request) domain.Command { return &domain.DecideChange{ChangeID: r.PathValue("change")} }},
	{"POST /v1/projects/{id}/inspections", "recordInspection", "Record an audit, inspection or special-account check (R15, R17), with the physical progress found when it checked progress (R6); may be recorded late.",
		func(*http.Request) domain.Command { return &domain.RecordInspection{} }},
	{"POST /v1/projects/{id}/completion", "completeConstruction", "Record completion (R13) with the actual total investment (R10); late completion and a variance need explanations.",
		func(*http.Request) domain.Command { return &domain.Complete{} }},
	{"POST /v1/projects/{id}/construction-start", "startConstruction", "Record the start of construction (开工) and its day, which may precede the application.",
		func(*http.Request) domain.Command { return &domain.StartConstruction{} }},
	{"POST /v1/projects/{id}/acceptance-preparation", "prepareAcceptance", "Record that the completed project prepares for acceptance (准备申请验收, R14): the step between completion and the acceptance request.",
		func(*http.Request) domain.Command { return &domain.PrepareAcceptance{} }},
	{"POST /v1/projects/{id}/acceptance-items", "fileAcceptanceItem", "File a prerequisite of acceptance: special acceptance, audit report or completion report (R14).",
		func(*http.Request) domain.Command { return &domain.FileAcceptanceItem{} }},
	{"POST /v1/projects/{id}/acceptance-request", "requestAcceptance", "Apply for completion acceptance once the project prepares for it and the three items are filed (R14).",
		func(*http.Request) domain.Command { return &domain.RequestAcceptance{} }},
	{"POST /v1/projects/{id}/acceptance", "recordAcceptance", "Record the outcome of completion acceptance: passed or failed.",
		func(*http.Request) domain.Command { return &domain.RecordAcceptance{} }},
	{"POST /v1/projects/{id}/termination", "terminate", "Terminate the project (R12); what was disbursed and not refunded becomes due. A central project's termination is recognised by the province and by the NDRC, each with this call; it takes effect with the second.",
		func(*http.Request) domain.Command { return &domain.Terminate{} }},
	{"POST /v1/projects/{id}/refunds", "refund", "Record a refund to a funding source; never more than was disbursed from it and not refunded (R12).",
		func(*http.Request) domain.Command { return &domain.Refund{} }},
	{"POST /v1/projects/{id}/closure", "closeProject", "Close the file: after acceptance, a rejected review, or a termination whose refunds are made (R12).",
		func(*http.Request) domain.Command { return &domain.Close{} }},
}

// CommandSpec describes a command route for other front ends (the web
// workspace): its name, path, what it does and checks in words, and a new
// body to fill in.
type CommandSpec struct {
	Name      string // domain.Command.CommandName()
	Path      string // with {id}, {change}, {preparation}
	Operation string // the OpenAPI operationId
	Summary   string // what it records and the rules it checks
	New       func() domain.Command
}

// CommandSpecs is every command route, in the order of a project's life.
func CommandSpecs() []CommandSpec {
	out := make([]CommandSpec, 0, len(commandRoutes))
	for _, rt := range commandRoutes {
		_, path, _ := strings.Cut(rt.pattern, " ")
		newCmd := rt.newCmd
		out = append(out, CommandSpec{Name: newCmd(&http.Request{}).CommandName(), Path: path, Operation: rt.operation, Summary: rt.summary,
			New: func() domain.Command { return newCmd(&http.Request{}) }})
	}
	return out
}
