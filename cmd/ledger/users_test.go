package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zjfund/ledger/identity"
)

// The tests' users, one per role, each with a token of its own; the
// ledgers the tests start create them from a users file.
var testUsers = []fileUser{
	{User: identity.User{ID: "admin", Name: "Administrator", Org: "ledger", Roles: []string{"admin"}, Region: "province"}, Token: "test-admin-token-0123456789abcdef0123"},
	{User: identity.User{ID: "wangfang", Name: "王芳", Org: "上虞市发改局", Roles: []string{"county_drc"}, Region: "330682"}, Token: "test-county-token-0123456789abcdef012"},
	{User: identity.User{ID: "zhangwei", Name: "张伟", Org: "浙江某化工有限公司", Roles: []string{"owner"}, Region: "province", Owner: "浙江某化工有限公司"}, Token: "test-owner-token-0123456789abcdef0123"},
	{User: identity.User{ID: "liqiang", Name: "李强", Org: "省发改委资环处", Roles: []string{"province_drc"}, Region: "province"}, Token: "test-province-token-0123456789abcdef0"},
	{User: identity.User{ID: "ndrc", Name: "环资司", Org: "国家发改委", Roles: []string{"ndrc"}, Region: "province"}, Token: "test-ndrc-token-0123456789abcdef01234"},
	{User: identity.User{ID: "chenjing", Name: "陈静", Org: "上虞市财政局", Roles: []string{"finance"}, Region: "330682"}, Token: "test-finance-token-0123456789abcdef012"},
	{User: identity.User{ID: "audit", Name: "审计署上海特派办", Org: "审计署", Roles: []string{"auditor"}, Region: "province"}, Token: "test-auditor-token-0123456789abcdef012"},
	{User: identity.User{ID: "shaoxing", Name: "绍兴市发改委", Org: "绍兴市发改委", Roles: []string{"city_drc"}, Region: "330600"}, Token: "test-city-token-0123456789abcdef012345"},
	{User: identity.User{ID: "registrar", Name: "省发改委受理处", Org: "浙江省发改委", Roles: []string{"county_drc"}, Region: "province"}, Token: "test-registrar-token-0123456789abcdef0"},
	{User: identity.User{ID: "sunqi", Name: "孙七", Org: "上虞市财政局", Roles: []string{"finance"}, Region: "330682"}, Token: "test-finance2-token-0123456789abcdef01"},
	{User: identity.User{ID: "dual", Name: "某市发改委综合处", Org: "某市发改委", Roles: []string{"county_drc", "city_drc", "province_drc", "finance"}, Region: "province"}, Token: "test-dual-token-0123456789abcdef012345"},
	{User: identity.User{ID: "lisi", Name: "李四", Org: "另一家公司", Roles: []string{"owner"}, Region: "province", Owner: "另一家公司"}, Token: "test-owner2-token-0123456789abcdef012"},
	{User: identity.User{ID: "ningbo", Name: "宁波市发改委", Org: "宁波市发改委", Roles: []string{"county_drc", "city_drc"}, Region: "330200"}, Token: "test-ningbo-token-0123456789abcdef0123"},
}

// tokenOf is the token of a test user.
func tokenOf(id string) string {
	for _, u := range testUsers {
		if u.ID == id {
			return u.Token
		}
	}
	panic("no test user " + id)
}

// as are the headers of a request by the test user id.
func as(id string) []string { return []string{"Authorization", "Bearer " + tokenOf(id)} }

var (
	drc      = as("wangfang")
	owner    = as("zhangwei")
	province = as("liqiang")
	ndrc     = as("ndrc")
	finance  = as("chenjing")
	auditor  = as("audit")
	admin    = as("admin")
)

var (
	usersFileOnce sync.Once
	usersFilePath string
)

// testUsersFile writes the test users to a file once, for --users-file.
func testUsersFile(t *testing.T) string {
	usersFileOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ledger-test-users-")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(testUsers)
		usersFilePath = filepath.Join(dir, "users.json")
		if err := os.WriteFile(usersFilePath, b, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	return usersFilePath
}
