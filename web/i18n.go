package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/zjfund/ledger/demo"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/projections"
)

// zhMessages are the pages' words in Chinese, by their English.
var zhMessages = map[string]string{
	"Ledger of funded projects":          "资源节约和环境保护项目资金台账",
	"Portfolio":                          "项目总览",
	"Watchlist":                          "重点关注",
	"Reports":                            "统计报表",
	"Audit":                              "审计核验",
	"Sign in":                            "登录",
	"Sign in through the single sign-on": "统一身份认证登录",
	"The single sign-on did not complete; please try again.": "统一身份认证未完成，请重试。",
	"Signed in.":          "已登录。",
	"Continue":            "继续",
	"Sign out":            "退出",
	"Skip to the content": "跳到正文",
	"Signed in as":        "当前用户",
	"Token":               "令牌",
	"Your token":          "您的令牌",
	"An administrator issues each user a token (ledger users token). It is kept in this browser's session cookie for 12 hours.": "令牌由管理员签发（ledger users token），登录后在本浏览器会话中保存 12 小时。",
	"The ledger does not accept this token.":  "台账不接受此令牌。",
	"The form expired; please sign in again.": "表单已过期，请重新登录。",
	"No such page.":                 "没有这个页面。",
	"As of":                         "截至",
	"Show":                          "查看",
	"today":                         "今天",
	"Province":                      "全省",
	"City":                          "设区市",
	"County":                        "县（市、区）",
	"Projects":                      "项目数",
	"Total investment":              "总投资",
	"Investment completed":          "已完成投资",
	"Awarded":                       "已下达补助",
	"Disbursed":                     "已拨付",
	"Refunded":                      "已收回",
	"Outstanding":                   "在用资金",
	"By status":                     "按状态",
	"Total":                         "合计",
	"amounts in 万元":                 "金额单位：万元",
	"By funding source":             "按资金来源",
	"Source":                        "资金来源",
	"Requested":                     "申请",
	"Award and disbursement":        "下达与拨付",
	"Disbursement against progress": "拨付与进度",
	"Investment completed by year":  "各年完成投资",
	"Status by region":              "各地项目状态",
	"Project":                       "项目",
	"Owner":                         "项目单位",
	"Status":                        "状态",
	"Programmes":                    "资金渠道",
	"Behind schedule":               "进度滞后",
	"yes":                           "是",
	"no":                            "否",
	"Region":                        "地区",
	"Projects in this county":       "本县（市、区）项目",
	"first %d shown":                "显示前 %d 项",
	"first %d of %d shown; choose a region to narrow them": "显示 %[2]d 项中的前 %[1]d 项，可按地区筛选",
	"Overview":                  "概况",
	"Planned period":            "计划工期",
	"Physical progress":         "形象进度",
	"Period elapsed":            "工期已过",
	"Funding":                   "资金",
	"Undisbursed":               "未拨付",
	"Refund due":                "应退回",
	"Progress and disbursement": "进度与拨付",
	"Acceptance":                "竣工验收",
	"Filed":                     "已提交",
	"Missing":                   "未提交",
	"Acceptance requested":      "已申请验收",
	"Acceptance passed":         "验收通过",
	"Pending changes":           "待批变更",
	"none":                      "无",
	"References":                "文号",
	"Events":                    "事件记录",
	"Effective":                 "生效时间",
	"Recorded":                  "记录时间",
	"Actor":                     "经办人",
	"Role":                      "角色",
	"What changed":              "变更内容",
	"Hash":                      "哈希",
	"Check in the browser":      "浏览器核验",
	"Record a step":             "办理",
	"Rules":                     "规则",
	"Record":                    "提交",
	"Refused":                   "未通过",
	"Recorded.":                 "已记录。",
	"Live: this page follows the ledger's events.": "实时：本页随台账事件自动更新。",
	"Bundle for audit":              "下载审计包",
	"Reason":                        "原因",
	"Since":                         "起始",
	"Detail":                        "说明",
	"Amount":                        "金额",
	"Nothing needs attention.":      "暂无需关注事项。",
	"Programme":                     "资金渠道",
	"all":                           "全部",
	"The figures the reports state": "报告口径数据",
	"Computed by the ledger, not stated by the reports": "台账计算数据（报告未载明）",
	"Print":                    "打印",
	"Latest signed checkpoint": "最新签名检查点",
	"Public key":               "公钥",
	"Events covered":           "覆盖事件数",
	"Verify a project":         "核验项目",
	"Project id":               "项目编号",
	"Verify":                   "核验",
	"Each event of the project is fetched with its inclusion proof and checked here, in the browser, against the checkpoint's root, whose signature is checked against the public key.": "逐条取回项目事件及其包含证明，在浏览器中对照检查点根哈希核验，并以公钥核验检查点签名。",
	"No checkpoint has been signed yet.":  "尚未签署检查点。",
	"the page's step as the rules see it": "办理事项及适用规则",
	"in the role":                         "以角色",
	"Version":                             "版本",
	"Error":                               "错误",
	"Back to the portfolio":               "返回项目总览",
	"(万元)":                                "（万元）",
	"Chart":                               "图表",
	"share of the award disbursed":        "拨付占下达补助比例",
	"share of the investment completed":   "完成投资占总投资比例",
	"English":                             "English",
	"中文":                                  "中文",
	"Select a region: the province, a city, then a county.": "按全省、设区市、县（市、区）逐级查看。",
	"The events as stored, with their hashes":               "事件原文哈希",
}

// fieldNames are the commands' fields in Chinese.
var fieldNames = map[string]string{
	"effective_time": "生效时间", "reference": "文号", "source": "资金来源", "amount": "金额", "basis": "拨付依据", "outcome": "结论",
	"reason": "理由", "note": "说明", "as_of": "截至日期", "investment_completed": "已完成投资", "physical_progress_bp": "形象进度（万分比）",
	"kind": "类别", "body": "检查机关", "findings": "检查发现", "item": "验收材料", "title": "标题", "description": "内容",
	"new_owner": "新单位名称", "new_total_investment": "新总投资", "explanation": "说明", "change_id": "变更编号", "change": "待批变更",
	"preparation": "待批拨付编号", "actual_total_investment": "实际总投资", "actual_equipment_purchase": "实际设备购置",
	"bank": "开户银行", "account_ref": "专户账号", "awards": "下达补助", "total_investment": "总投资", "attachments": "附件",
	"actual_completion": "实际竣工日期", "started_on": "开工日期", "completed_on": "竣工日期", "level": "认定层级",
}

// commandNames are the steps in the reports' words.
var commandNames = map[string]string{
	"screen": "初审筛选", "submit_report": "报送资金申请报告", "record_review": "记录评审结论", "record_national_reply": "记录国家复函",
	"issue_plan": "下达投资计划", "open_special_account": "开设资金专户", "disburse": "拨付资金", "approve_disbursement": "复核拨付",
	"pass_pilot_assessment": "记录试点考核通过", "report_progress": "报送进度", "request_change": "申请变更", "decide_change": "审批变更",
	"record_inspection": "记录检查稽察", "complete": "记录竣工", "start_construction": "记录开工", "prepare_acceptance": "准备申请验收",
	"file_acceptance_item": "提交验收材料", "request_acceptance": "申请竣工验收", "record_acceptance": "记录验收结论",
	"terminate": "终止项目", "refund": "收回资金", "close": "结案",
}

// Field names a command's field.
func (v *view) Field(name string) string {
	if n, ok := fieldNames[name]; ok && v.lang != "en" {
		return n
	}
	return strings.ReplaceAll(name, "_", " ")
}

// Command names a step.
func (v *view) Command(name string) string {
	if n, ok := commandNames[name]; ok && v.lang != "en" {
		return n
	}
	return strings.ReplaceAll(name, "_", " ")
}

// statusNames are the lifecycle statuses in the reports' words.
var statusNames = map[domain.Status]string{
	domain.StatusApplied: "已申报", domain.StatusScreened: "已初审", domain.StatusReportSubmitted: "已报送申请报告",
	domain.StatusProvinciallyApproved: "已通过评审", domain.StatusReviewRejected: "评审未通过", domain.StatusReplyReceived: "已获复函",
	domain.StatusImplementing: "实施中", domain.StatusCompleted: "已竣工", domain.StatusPreparingAcceptance: "准备申请验收",
	domain.StatusAcceptanceRequested: "已申请验收", domain.StatusAccepted: "已验收", domain.StatusAcceptanceFailed: "验收未通过",
	domain.StatusTerminated: "已终止", domain.StatusClosed: "已结案",
}

// sourceNames are the funding sources as the reports name them.
var sourceNames = map[domain.Source]string{
	domain.SourceCentralBudget: "中央预算内投资", domain.SourceCentralFiscal: "中央财政补助", domain.SourceProvincialFund: "省循环经济专项资金",
	domain.SourceProvincialMatch: "省级配套", domain.SourceCityFund: "市专项资金", domain.SourceCountyFund: "县专项资金",
}

// watchNames are the watchlist's reasons.
var watchNames = map[string][2]string{
	projections.WatchDisbursedAhead:    {"拨付超前于进度", "disbursed ahead of progress"},
	projections.WatchNotAccepted:       {"竣工未验收", "completed, not accepted"},
	projections.WatchPastPlannedEnd:    {"超过计划工期", "past its planned end"},
	projections.WatchRefundOutstanding: {"应退未退", "refund outstanding"},
}

func (v *view) Status(s domain.Status) string {
	if v.lang == "en" {
		return strings.ReplaceAll(string(s), "_", " ")
	}
	if n, ok := statusNames[s]; ok {
		return n
	}
	return string(s)
}

func (v *view) Source(s domain.Source) string {
	if v.lang == "en" {
		return strings.ReplaceAll(string(s), "_", " ")
	}
	return sourceNames[s]
}

func (v *view) Watch(kind string) string {
	n, ok := watchNames[kind]
	if !ok {
		return kind
	}
	if v.lang == "en" {
		return n[1]
	}
	return n[0]
}

// Region names a division code ("province" for the whole province).
func (v *view) Region(code string) string {
	switch code {
	case "", "province":
		return v.T("Province")
	}
	if n := demo.DivisionName(code); n != "" {
		if v.lang == "en" {
			return code + " " + n
		}
		return n
	}
	return code
}

// Programme names a programme code.
func (v *view) Programme(code string) string {
	if r, ok := domain.CurrentRulebook().Programmes[code]; ok && v.lang != "en" && r.Name != "" {
		return r.Name
	}
	return code
}

// Tf formats a translated message.
func (v *view) Tf(msg string, args ...any) string { return fmt.Sprintf(v.T(msg), args...) }

var funcs = template.FuncMap{
	// wan formats fen as 万元, exactly.
	"wan": func(f domain.Fen) string { return projections.Wan(int64(f)) },
	// pct formats basis points as a percentage.
	"pct": func(bp int64) string { return fmt.Sprintf("%d.%02d%%", bp/100, bp%100) },
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(cst).Format("2006-01-02")
	},
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(cst).Format("2006-01-02 15:04")
	},
	"short": func(h string) string {
		if len(h) > 12 {
			return h[:12]
		}
		return h
	},
	"sources": func() []domain.Source { return domain.Sources },
	"join":    strings.Join,
}

// cst is the reports' time zone.
var cst = time.FixedZone("CST", 8*3600)
