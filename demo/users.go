package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/zjfund/ledger/domain"
)

// User is one of the dataset's actors as a user of the ledger: the demo
// data is recorded by real users, each acting in one role over the region
// (or, for an owner, the organisation) of the projects it acts on.
type User struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Org    string   `json:"org"`
	Roles  []string `json:"roles"`
	Region string   `json:"region"`
	Owner  string   `json:"owner_org,omitempty"`
}

// UserID is the id of the user who records steps as actor in role.
func UserID(actor string, role domain.Role) string {
	sum := sha256.Sum256([]byte(actor + "\x00" + string(role)))
	return "demo-" + string(role) + "-" + hex.EncodeToString(sum[:5])
}

// Users returns the users who record the dataset, by id.
func (d *Dataset) Users() []User {
	type acc struct {
		u                User
		cities, counties map[string]bool
	}
	byID := map[string]*acc{}
	for _, p := range d.Projects {
		for _, s := range p.Steps {
			id := UserID(s.Actor, s.Role)
			a := byID[id]
			if a == nil {
				a = &acc{u: User{ID: id, Name: s.Actor, Org: s.Actor, Roles: []string{string(s.Role)}}, cities: map[string]bool{}, counties: map[string]bool{}}
				if s.Role == domain.RoleOwner {
					a.u.Owner = s.Actor
				}
				byID[id] = a
			}
			a.cities[p.City] = true
			a.counties[p.County] = true
		}
	}
	out := make([]User, 0, len(byID))
	for _, a := range byID {
		switch {
		case a.u.Roles[0] == string(domain.RoleProvinceDRC) || a.u.Roles[0] == string(domain.RoleNDRC) || a.u.Roles[0] == string(domain.RoleAuditor):
			a.u.Region = "province"
		case len(a.counties) == 1:
			for c := range a.counties {
				a.u.Region = c
			}
		case len(a.cities) == 1:
			for c := range a.cities {
				a.u.Region = c
			}
		default:
			a.u.Region = "province"
		}
		out = append(out, a.u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
