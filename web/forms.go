package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zjfund/ledger/client"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/httpapi"
)

// form is one step the signed-in user may record on the project: the
// command's fields, what the step checks in words, and — when it was just
// submitted — what came of it.
type form struct {
	Op, Name, Summary string
	Roles             []domain.Role // the user's roles the step permits
	Fields            []field
	Result            *formResult
}

// field is one input of a form.
type field struct {
	Name, Label string
	Kind        string // datetime, date, wan, amounts, source, select, number, bool, text, json
	Options     []string
	Value       string
	Values      map[domain.Source]string // for amounts
	Optional    bool
}

// enums are the values a command's string field takes, where the domain
// fixes them.
var enums = map[string][]string{
	"record_review.outcome":     {"passed", "rejected"},
	"decide_change.outcome":     {"approved", "rejected"},
	"record_acceptance.outcome": {"passed", "failed"},
	"file_acceptance_item.item": domain.RequiredAcceptanceItems,
	"request_change.kind":       {string(domain.ChangeContent), string(domain.ChangeOwnerRename), string(domain.ChangeTotalInvestment)},
}

var (
	timeT    = reflect.TypeFor[time.Time]()
	dateT    = reflect.TypeFor[domain.Date]()
	fenT     = reflect.TypeFor[domain.Fen]()
	amountsT = reflect.TypeFor[domain.Amounts]()
	sourceT  = reflect.TypeFor[domain.Source]()
)

// forms are the steps of the project's programme that the user's roles
// permit, registration aside.
func (v *view) forms(p *client.Project, res *formResult) []form {
	rules := domain.CurrentRulebook().Effective(p.Programmes)
	var out []form
	for _, spec := range httpapi.CommandSpecs() {
		if spec.Name == "register" {
			continue
		}
		var roles []domain.Role
		for _, r := range domain.PermittedRoles(spec.Name) {
			if slices.Contains(v.User.Roles, string(r)) {
				roles = append(roles, r)
			}
		}
		if len(roles) == 0 || (rules != nil && !rules.Has(spec.Name) && !anytime[spec.Name]) {
			continue
		}
		f := form{Op: spec.Operation, Name: spec.Name, Summary: spec.Summary, Roles: roles, Fields: fieldsOf(spec.Name, spec.New())}
		if spec.Name == "decide_change" {
			f.Fields = append([]field{{Name: "change", Label: "change", Kind: "select", Options: p.PendingChanges}}, f.Fields...)
		}
		if spec.Name == "approve_disbursement" {
			f.Fields = append([]field{{Name: "preparation", Label: "preparation", Kind: "text"}}, f.Fields...)
		}
		if res != nil && res.Op == spec.Operation {
			f.Result = res
			refill(f.Fields, v.r.PostForm)
			// The rule that refused it, in the words of the project's programmes.
			if res.Problem != nil && res.Problem.Rule != "" && rules != nil {
				for _, r := range rules.Rules {
					if r.ID == res.Problem.Rule {
						res.Rule = &r
						break
					}
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// anytime are the steps a project may take whenever it is being carried
// out, whatever its programme's path (see domain.ProgrammeRules.Path).
var anytime = map[string]bool{"report_progress": true, "record_inspection": true, "request_change": true, "decide_change": true,
	"terminate": true, "refund": true, "close": true, "approve_disbursement": true}

// fieldsOf lists a command's inputs from its JSON fields.
func fieldsOf(name string, cmd domain.Command) []field {
	var out []field
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if sf.Anonymous && tag == "" {
				walk(sf.Type)
				continue
			}
			if !sf.IsExported() || tag == "-" {
				continue
			}
			jname, opts, _ := strings.Cut(tag, ",")
			f := field{Name: jname, Label: jname, Optional: strings.Contains(opts, "omitempty")}
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft, f.Optional = ft.Elem(), true
			}
			switch {
			case ft == timeT:
				f.Kind = "datetime"
			case ft == dateT:
				f.Kind = "date"
			case ft == fenT:
				f.Kind = "wan"
			case ft == amountsT:
				f.Kind, f.Values = "amounts", map[domain.Source]string{}
			case ft == sourceT:
				f.Kind = "source"
				for _, s := range domain.Sources {
					f.Options = append(f.Options, string(s))
				}
			case enums[name+"."+jname] != nil:
				f.Kind, f.Options = "select", enums[name+"."+jname]
			case ft.Kind() == reflect.String:
				f.Kind = "text"
			case ft.Kind() == reflect.Int64 || ft.Kind() == reflect.Int:
				f.Kind = "number"
			case ft.Kind() == reflect.Bool:
				f.Kind = "bool"
			default:
				f.Kind = "json"
			}
			out = append(out, f)
		}
	}
	walk(reflect.TypeOf(cmd).Elem())
	return out
}

// refill puts a submitted form's values back into its fields.
func refill(fields []field, vals url.Values) {
	for i := range fields {
		f := &fields[i]
		if f.Kind == "amounts" {
			for _, s := range domain.Sources {
				f.Values[s] = vals.Get(f.Name + "." + string(s))
			}
			continue
		}
		f.Value = vals.Get(f.Name)
	}
}

// fieldError is a form field that does not read.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// fill reads a submitted form into cmd through its JSON form, so that the
// domain's own types parse it.
func fill(cmd domain.Command, fields []field, vals url.Values) error {
	body := map[string]any{}
	for _, f := range fields {
		raw := strings.TrimSpace(vals.Get(f.Name))
		switch f.Kind {
		case "amounts":
			m := map[string]int64{}
			for _, s := range domain.Sources {
				if w := strings.TrimSpace(vals.Get(f.Name + "." + string(s))); w != "" {
					fen, err := parseWan(w)
					if err != nil {
						return &fieldError{f.Name + "." + string(s), err.Error()}
					}
					m[string(s)] = fen
				}
			}
			if len(m) > 0 {
				body[f.Name] = m
			}
			continue
		case "bool":
			if raw != "" {
				body[f.Name] = true
			}
			continue
		}
		if raw == "" {
			continue
		}
		switch f.Kind {
		case "datetime":
			t, err := time.ParseInLocation("2006-01-02T15:04", raw, cst)
			if err != nil {
				if t, err = time.ParseInLocation("2006-01-02", raw, cst); err != nil {
					return &fieldError{f.Name, "want a date and time, e.g. 2011-06-01T10:00"}
				}
			}
			body[f.Name] = t.Format(time.RFC3339)
		case "wan":
			fen, err := parseWan(raw)
			if err != nil {
				return &fieldError{f.Name, err.Error()}
			}
			body[f.Name] = fen
		case "number":
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return &fieldError{f.Name, "want a whole number"}
			}
			body[f.Name] = n
		case "json":
			var x any
			if err := json.Unmarshal([]byte(raw), &x); err != nil {
				return &fieldError{f.Name, "not JSON: " + err.Error()}
			}
			body[f.Name] = x
		default:
			body[f.Name] = raw
		}
	}
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, cmd); err != nil {
		return &fieldError{"form", err.Error()}
	}
	switch c := cmd.(type) {
	case *domain.DecideChange:
		c.ChangeID = vals.Get("change")
	case *domain.ApproveDisbursement:
		c.PreparationID = strings.TrimSpace(vals.Get("preparation"))
	}
	return nil
}

// parseWan reads an amount in 万元 ("150", "12.5", "0.000001") as fen,
// exactly; more than six decimals (less than a fen) is refused.
func parseWan(s string) (int64, error) {
	r, ok := new(big.Rat).SetString(strings.ReplaceAll(s, ",", ""))
	if !ok || r.Sign() < 0 {
		return 0, errors.New("want an amount in 万元, e.g. 150 or 12.5")
	}
	r.Mul(r, big.NewRat(int64(domain.Wan), 1))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, errors.New("an amount in 万元 with at most six decimals (1 fen)")
	}
	return r.Num().Int64(), nil
}

// step records a step submitted from the project page: on success back to
// the page (which shows it), on a refusal the page again with the form,
// the problem and the rule in words.
func (s *Server) step(v *view) {
	v.r.Body = http.MaxBytesReader(v.w, v.r.Body, 1<<20)
	if err := v.r.ParseForm(); err != nil {
		v.fail(http.StatusBadRequest, err.Error())
		return
	}
	if !checkCSRF(v.r) {
		v.fail(http.StatusForbidden, v.T("The form expired; please sign in again."))
		return
	}
	op, id := v.r.PathValue("op"), v.r.PathValue("id")
	var spec *httpapi.CommandSpec
	for _, c := range httpapi.CommandSpecs() {
		if c.Operation == op && c.Name != "register" {
			spec = &c
			break
		}
	}
	if spec == nil {
		v.fail(http.StatusNotFound, "no step "+op)
		return
	}
	cmd := spec.New()
	res := &formResult{Op: op}
	fields := fieldsOf(spec.Name, cmd)
	if err := fill(cmd, fields, v.r.PostForm); err != nil {
		var fe *fieldError
		errors.As(err, &fe)
		res.Problem = &client.Problem{Status: http.StatusBadRequest, Code: "invalid-field", Field: fe.field, Detail: fe.msg}
		v.projectPage(http.StatusBadRequest, res)
		return
	}
	var opts []client.CommandOption
	if ver, err := strconv.ParseUint(v.r.PostFormValue("version"), 10, 64); err == nil && ver > 0 {
		opts = append(opts, client.IfMatch(ver))
	}
	if role := v.r.PostFormValue("role"); role != "" {
		opts = append(opts, client.AsRole(domain.Role(role)))
	}
	rec, err := v.api.Do(v.r.Context(), id, cmd, opts...)
	if err != nil {
		var p *client.Problem
		if !errors.As(err, &p) {
			v.problem(err)
			return
		}
		res.Problem = p
		v.projectPage(p.Status, res)
		return
	}
	http.Redirect(v.w, v.r, fmt.Sprintf("/projects/%s?recorded=%d#events", url.PathEscape(id), rec.Version), http.StatusSeeOther)
}

// problemText is a problem in words: its detail, the field and the rule.
func (v *view) problemText(p *client.Problem) string {
	s := p.Detail
	if s == "" {
		s = p.Title
	}
	if p.Field != "" && !strings.Contains(s, p.Field) {
		s = p.Field + ": " + s
	}
	if p.Rule != "" {
		s += " (" + p.Rule + ")"
	}
	return s
}

// Problem is problemText for templates.
func (v *view) Problem(p *client.Problem) string { return v.problemText(p) }
