package domain

import (
	"strings"
)

// ProjectID identifies a project for its whole life. It is a subject token on
// the event stream, so it is limited to ASCII letters, digits, '-' and '_'
// (1–64 characters): never '.', '*', '>' or whitespace.
type ProjectID string

// Validate returns an invalid-field error naming field when id is malformed.
func (id ProjectID) Validate(field string) error {
	if len(id) == 0 || len(id) > 64 {
		return invalid(field, "project id must be 1–64 characters, got %d", len(id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return invalid(field, "project id may hold only letters, digits, '-' and '_', got %q", string(c))
		}
	}
	return nil
}

// DivisionCode is a 6-digit administrative division code of GB/T 2260 (e.g.
// 330600 for 绍兴市, 330682 for 上虞市), the code in force when the project was
// registered.
type DivisionCode string

func (c DivisionCode) valid() bool {
	if len(c) != 6 {
		return false
	}
	for _, d := range c {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}

// IsCity reports whether c is a prefecture-level code (ends in "00", not a province).
func (c DivisionCode) IsCity() bool {
	return c.valid() && strings.HasSuffix(string(c), "00") && !strings.HasSuffix(string(c), "0000")
}

// validateRegion checks that city is a prefecture-level code and county is
// either the city itself (a city-level project) or a division under it.
func validateRegion(city, county DivisionCode) error {
	if !city.IsCity() {
		return invalid("city", "city must be a 6-digit GB/T 2260 prefecture code ending in 00, got %q", city)
	}
	if !county.valid() {
		return invalid("county", "county must be a 6-digit GB/T 2260 code, got %q", county)
	}
	if county != city && (county[:4] != city[:4] || strings.HasSuffix(string(county), "00")) {
		return invalid("county", "county %s is not a division of city %s", county, city)
	}
	return nil
}

// Role is the role in which the acting person records a step. Persisted:
// add new values only at the end.
type Role string

const (
	RoleOwner       Role = "owner"        // 项目业主单位: the enterprise
	RoleCountyDRC   Role = "county_drc"   // 县（市、区）发改局
	RoleCityDRC     Role = "city_drc"     // 市发改委
	RoleProvinceDRC Role = "province_drc" // 省发改委
	RoleNDRC        Role = "ndrc"         // 国家发展改革委
	RoleFinance     Role = "finance"      // 财政局
	RoleAuditor     Role = "auditor"      // 审计署 / internal audit
)

// Roles lists every role.
var Roles = []Role{RoleOwner, RoleCountyDRC, RoleCityDRC, RoleProvinceDRC, RoleNDRC, RoleFinance, RoleAuditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// Actor is who records a step and in which role.
type Actor struct {
	Name string
	Role Role
	// ID and Org identify an authenticated user (its id in the ledger's
	// user directory, its organisation); empty on events recorded before
	// the ledger authenticated, whose actor is the name a caller gave.
	ID  string
	Org string
}
