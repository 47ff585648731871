#!/usr/bin/env bash
# smoke.sh [A_URL B_URL] — against two ledger instances of one cluster
# (default: those of deploy/cluster.sh): the admin makes the users, a
# project is registered, approved and paid through instance A, and read
# through instance B at the position A's last write reached. Exits non-zero
# on the first step that does not answer as it should.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=${1:-http://127.0.0.1:8081}
b=${2:-http://127.0.0.1:8082}
admin=${LEDGER_ADMIN_TOKEN:-$(cat "${RUN_DIR:-$here/run}/admin.token")}
id=SMOKE-$(date +%s)

post() { # url token role body → prints the answer, fails unless 201
  local out code
  out=$(curl -s -w '\n%{http_code}' -X POST "$1" -H "Authorization: Bearer $2" ${3:+-H "Ledger-Role: $3"} \
        -H 'Content-Type: application/json' -d "$4")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$code" != 201 ]; then echo "POST $1: $code $out" >&2; exit 1; fi
  printf '%s' "$out"
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }

token() { # id roles region → a token of a new user
  curl -sf -X POST "$a/v1/users" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d "{\"id\": \"$1-$id\", \"name\": \"$1\", \"org\": \"$1\", \"roles\": [\"$2\"], \"region\": \"$3\"${4:+, \"owner_org\": \"$4\"}}" >/dev/null
  curl -sf -X POST "$a/v1/users/$1-$id/tokens" -H "Authorization: Bearer $admin" | field "['token']"
}
drc=$(token drc county_drc 330682)
owner=$(token owner owner 330682 "烟测企业")
prov=$(token prov province_drc province)
ndrc=$(token ndrc ndrc province)
fin=$(token fin finance 330682)

P=$a/v1/projects/$id
t='"effective_time": "2011-0'
post "$a/v1/projects" "$drc" "" "{\"id\": \"$id\", ${t}1-10T10:00:00+08:00\", \"name\": \"烟测项目\", \"owner\": \"烟测企业\",
  \"city\": \"330600\", \"county\": \"330682\", \"category\": \"energy_saving\", \"programmes\": [\"central_rcep\"],
  \"total_investment\": 10000000000, \"completed_investment\": 1000000000, \"planned_start\": \"2011-01-01\", \"planned_end\": \"2012-12-31\",
  \"requested\": {\"central_budget\": 600000000}}" >/dev/null
post "$P/screening" "$drc" "" "{${t}1-12T10:00:00+08:00\"}" >/dev/null
post "$P/application-report" "$owner" "" "{${t}1-20T10:00:00+08:00\", \"reference\": \"r\", \"attachments\": [
  {\"kind\": \"project_filing\", \"reference\": \"1\"}, {\"kind\": \"eia_approval\", \"reference\": \"2\"}, {\"kind\": \"site_planning\", \"reference\": \"3\"},
  {\"kind\": \"land_prereview\", \"reference\": \"4\"}, {\"kind\": \"loan_agreement\", \"reference\": \"5\"}, {\"kind\": \"energy_review\", \"reference\": \"6\"}]}" >/dev/null
post "$P/review" "$prov" "" "{${t}3-01T10:00:00+08:00\", \"outcome\": \"passed\", \"reference\": \"r\"}" >/dev/null
post "$P/national-reply" "$ndrc" "" "{${t}4-01T10:00:00+08:00\", \"reference\": \"r\"}" >/dev/null
post "$P/investment-plan" "$ndrc" "" "{${t}5-01T10:00:00+08:00\", \"reference\": \"r\", \"awards\": {\"central_budget\": 500000000}}" >/dev/null
post "$P/special-account" "$owner" "" "{${t}5-10T10:00:00+08:00\", \"bank\": \"b\", \"account_ref\": \"****1\"}" >/dev/null
post "$P/progress-reports" "$owner" "" "{${t}6-01T10:00:00+08:00\", \"as_of\": \"2011-06-01\", \"investment_completed\": 5000000000, \"physical_progress_bp\": 5000}" >/dev/null
pos=$(post "$P/disbursements" "$fin" "" "{${t}6-10T10:00:00+08:00\", \"source\": \"central_budget\", \"amount\": 200000000, \"basis\": \"进度检查\"}" | field "['events'][-1]['seq']")
got=$(curl -sf "$b/v1/projects/$id?min_position=$pos" -H "Authorization: Bearer $admin" | field "['funding']['totals']['disbursed']")
if [ "$got" != 200000000 ]; then echo "instance B shows $got disbursed, want 200000000" >&2; exit 1; fi
echo "smoke: $id registered, approved and paid through $a; read through $b at position $pos: 200万 disbursed"
