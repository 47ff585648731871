package httpapi

import (
	"net/http"
	"strconv"

	"github.com/zjfund/ledger/domain"
)

// programmesResponse is a rulebook as GET /v1/programmes serves it.
type programmesResponse struct {
	Version    int                     `json:"version"`
	Current    int                     `json:"current"`  // the version new commands are decided under
	Versions   []int                   `json:"versions"` // every version events may record
	Since      string                  `json:"since"`
	Note       string                  `json:"note"`
	Programmes []domain.ProgrammeRules `json:"programmes"` // by code
	// Book-wide rules of this version.
	PreparingAcceptance     bool `json:"preparing_acceptance"`
	ReviseCheckedAtDecision bool `json:"revise_checked_at_decision"`
}

func (a *API) listProgrammes(w http.ResponseWriter, r *http.Request) {
	rb := domain.CurrentRulebook()
	if v := r.URL.Query().Get("rulebook"); v != "" {
		b, err := domain.RulebookVersion(v)
		if err != nil {
			writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-parameter", "rulebook", err.Error()))
			return
		}
		rb = b
	}
	out := programmesResponse{Version: rb.Version, Current: domain.CurrentRulebook().Version, Since: rb.Since, Note: rb.Note,
		PreparingAcceptance: rb.PreparingAcceptance, ReviseCheckedAtDecision: rb.ReviseCheckedAtDecision}
	for _, b := range domain.Rulebooks {
		out.Versions = append(out.Versions, b.Version)
	}
	for _, c := range rb.Codes() {
		out.Programmes = append(out.Programmes, rb.Programmes[c])
	}
	w.Header().Set("ETag", `"rulebook-`+strconv.Itoa(rb.Version)+`"`)
	writeJSON(w, http.StatusOK, out)
}
