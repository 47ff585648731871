package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// Bounds on query parameters: no request may make a subject, a consumer
// name or a NATS control line out of bounds, and none carries bytes that a
// log, a header or a subject cannot hold.
const (
	maxParam     = 64  // a code, id, name or token
	maxTextParam = 200 // a free-text filter (owner, name), in bytes of UTF-8
)

// checkText checks a free-text parameter: valid UTF-8, at most max bytes,
// no control characters.
func checkText(name, v string, max int) *Problem {
	if len(v) > max {
		return fieldProblem(http.StatusBadRequest, "invalid-parameter", name, fmt.Sprintf("must be at most %d bytes, got %d", max, len(v)))
	}
	if !utf8.ValidString(v) {
		return fieldProblem(http.StatusBadRequest, "invalid-parameter", name, "must be valid UTF-8")
	}
	for _, c := range v {
		if unicode.IsControl(c) {
			return fieldProblem(http.StatusBadRequest, "invalid-parameter", name, fmt.Sprintf("must not contain control characters (found %U)", c))
		}
	}
	return nil
}

// checkToken checks a parameter that becomes part of a subject or an
// identifier: ASCII letters, digits, '-' and '_', at most maxParam.
func checkToken(name, v string) *Problem {
	if len(v) > maxParam {
		return fieldProblem(http.StatusBadRequest, "invalid-parameter", name, fmt.Sprintf("must be at most %d characters, got %d", maxParam, len(v)))
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fieldProblem(http.StatusBadRequest, "invalid-parameter", name, fmt.Sprintf("may hold only ASCII letters, digits, '-' and '_', found %q", c))
		}
	}
	return nil
}

// checkDivision checks a GB/T 2260 six-digit division code.
func checkDivision(name, v string) *Problem {
	if len(v) != 6 || strings.Trim(v, "0123456789") != "" {
		if p := checkText(name, v, maxParam); p != nil {
			return p
		}
		return fieldProblem(http.StatusBadRequest, "invalid-parameter", name, fmt.Sprintf("must be a six-digit GB/T 2260 division code such as 330682, got %q", v))
	}
	return nil
}

// eventName returns the subject token of an event type given as the feeds
// name it (funds_disbursed), as /v1/schemas names it (funds_disbursed.v1),
// or as the CloudEvent's type (ledger.project.funds_disbursed.v1).
func eventName(v string) (string, *Problem) {
	if p := checkText("type", v, maxParam); p != nil {
		return "", p
	}
	t := strings.TrimPrefix(v, eventstore.TypePrefix)
	names := map[string]bool{}
	for _, typ := range domain.EventTypes() {
		name, _, _ := strings.Cut(typ, ".")
		names[name] = true
		if t == typ {
			return name, nil
		}
	}
	if names[t] {
		return t, nil
	}
	known := make([]string, 0, len(names))
	for n := range names {
		known = append(known, n)
	}
	sort.Strings(known)
	return "", fieldProblem(http.StatusBadRequest, "invalid-parameter", "type",
		fmt.Sprintf("%q is not an event type; one of %s (or their /v1/schemas names)", v, strings.Join(known, ", ")))
}

// subjectFilter builds the subject filter of a feed or webhook from city,
// county, project and type, each checked: no value can reach a subject
// unless it is a well-formed token.
func subjectFilter(v url.Values) (string, *Problem) {
	city, county, project, typ := v.Get("city"), v.Get("county"), v.Get("project"), v.Get("type")
	for _, d := range []struct{ name, v string }{{"city", city}, {"county", county}} {
		if d.v != "" {
			if p := checkDivision(d.name, d.v); p != nil {
				return "", p
			}
		}
	}
	if project != "" {
		if p := checkText("project", project, maxParam); p != nil {
			return "", p
		}
		if err := domain.ProjectID(project).Validate("project"); err != nil {
			return "", fieldProblem(http.StatusBadRequest, "invalid-parameter", "project", err.Error())
		}
	}
	if typ != "" {
		name, p := eventName(typ)
		if p != nil {
			return "", p
		}
		typ = name
	}
	return eventstore.Filter(city, county, domain.ProjectID(project), typ), nil
}
