package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// Problem is an RFC 9457 problem detail, with the ledger's extension members:
// a stable machine code, the rule of the domain notes (R1–R30) and the field
// concerned, when there are.
type Problem struct {
	Type     string           `json:"type"`
	Title    string           `json:"title"`
	Status   int              `json:"status"`
	Detail   string           `json:"detail,omitempty"`
	Instance string           `json:"instance,omitempty"`
	Code     string           `json:"code"`
	Rule     string           `json:"rule,omitempty"`
	Field    string           `json:"field,omitempty"`
	Project  domain.ProjectID `json:"project,omitempty"`
	Version  *uint64          `json:"current_version,omitempty"`

	retryAfter int // seconds; sent as Retry-After when set
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// CodeStorageFull is the problem code of a write refused because the store is full.
const CodeStorageFull = "storage-full"

// problemType is the URI of a problem code.
func problemType(code string) string { return "urn:ledger:problem:" + code }

func newProblem(status int, code, detail string) *Problem {
	return &Problem{Type: problemType(code), Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.Instance = r.URL.Path
	if sw, ok := w.(*statusWriter); ok { // for the access log
		sw.code, sw.rule = p.Code, p.Rule
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// problemFor maps an error of the service to a problem. Internal errors are
// logged with the request id and answered without their text.
func problemFor(err error, log *slog.Logger, reqID string) *Problem {
	var de *domain.Error
	var pe *app.PreconditionError
	var be *app.BlockedError
	switch {
	case errors.As(err, &be):
		p := newProblem(http.StatusServiceUnavailable, be.Code, be.Error())
		if be.Code == CodeStorageFull {
			p.Status, p.Title = http.StatusInsufficientStorage, http.StatusText(http.StatusInsufficientStorage)
		}
		p.retryAfter = 30
		return p
	case eventstore.IsStorageFull(err):
		log.Warn("append refused: the store is full", "request_id", reqID, "err", err)
		p := newProblem(http.StatusInsufficientStorage, CodeStorageFull,
			"the event store has no room for more events; nothing was written; retry once the operator has made room (reads go on)")
		p.retryAfter = 30
		return p
	case errors.As(err, &de):
		status := map[domain.Kind]int{
			domain.KindInvalid:   http.StatusUnprocessableEntity,
			domain.KindRule:      http.StatusConflict,
			domain.KindForbidden: http.StatusForbidden,
			domain.KindNotFound:  http.StatusNotFound,
			domain.KindExists:    http.StatusConflict,
		}[de.Kind]
		if status == 0 {
			status = http.StatusUnprocessableEntity
		}
		p := newProblem(status, de.Code, de.Error())
		p.Rule, p.Field, p.Project = de.Rule, de.Field, de.Project
		return p
	case errors.As(err, &pe):
		p := newProblem(http.StatusPreconditionFailed, "stale-version",
			"project "+string(pe.Project)+" is at version "+strconv.FormatUint(pe.Actual, 10)+", not "+strconv.FormatUint(pe.Expected, 10)+"; read it again and decide on the new state")
		p.Project, p.Version, p.Field = pe.Project, &pe.Actual, "If-Match"
		return p
	case errors.Is(err, app.ErrIdempotencyKeyReused):
		p := newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", err.Error())
		p.Field = "Idempotency-Key"
		return p
	case errors.Is(err, app.ErrBusy):
		return newProblem(http.StatusConflict, "write-contention", err.Error()+"; retry")
	case errors.Is(err, context.Canceled):
		log.Info("request canceled", "request_id", reqID, "err", err)
		return newProblem(http.StatusServiceUnavailable, "canceled", "the request was canceled before it completed; nothing was acknowledged")
	}
	log.Error("request failed", "request_id", reqID, "err", err)
	return newProblem(http.StatusInternalServerError, "internal", "the ledger could not complete the request; see the server log for request "+reqID)
}
