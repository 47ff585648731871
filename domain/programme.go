package domain

import "sort"

// Programme is a funding programme a project is listed under, with the rules
// that differ between programmes.
type Programme struct {
	Code string
	Name string
	// MaxCompletedBP is the R2 threshold: at screening, investment already
	// completed may be at most this share of the total, in basis points.
	MaxCompletedBP int64
	// PredisbursementBP, when non-zero, is the R18 share of each award that may
	// be paid before the pilot assessment has passed.
	PredisbursementBP int64
}

// Programmes is the table of known programmes, keyed by code. The R2
// threshold is the text's "30%–40%" (L1144-1147): 30% for the national central
// budget, 40% for the provincial and city programmes.
var Programmes = map[string]Programme{
	"central_rcep":        {Code: "central_rcep", Name: "资源节约和环境保护中央预算内投资", MaxCompletedBP: 3000},
	"kitchen_waste_pilot": {Code: "kitchen_waste_pilot", Name: "餐厨废弃物资源化利用和无害化处理试点城市", MaxCompletedBP: 3000, PredisbursementBP: 5000},
	"urban_mine":          {Code: "urban_mine", Name: "城市矿产示范基地", MaxCompletedBP: 3000},
	"zj_991":              {Code: "zj_991", Name: "浙江省循环经济991行动计划", MaxCompletedBP: 4000},
	"zj_park_eco":         {Code: "zj_park_eco", Name: "工业园区生态化建设与改造", MaxCompletedBP: 4000},
	"hz_770":              {Code: "hz_770", Name: "杭州市循环经济770工程", MaxCompletedBP: 4000},
	"sx_850":              {Code: "sx_850", Name: "绍兴市循环经济850工程", MaxCompletedBP: 4000},
	"tz_511":              {Code: "tz_511", Name: "台州市循环经济511行动计划", MaxCompletedBP: 4000},
	"city_fund":           {Code: "city_fund", Name: "市/县循环经济专项资金", MaxCompletedBP: 4000},
}

// ProgrammeCodes returns the known programme codes, sorted.
func ProgrammeCodes() []string {
	cs := make([]string, 0, len(Programmes))
	for c := range Programmes {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs
}

// Category is what a project saves or recycles (domain notes §6).
type Category string

// Categories lists the accepted categories. Persisted: add new values only at the end.
var Categories = []Category{
	"energy_saving",        // 节能
	"water_saving",         // 节水
	"material_saving",      // 节材
	"land_saving",          // 节地
	"resource_utilization", // 资源综合利用
	"cleaner_production",   // 清洁生产
	"waste_heat",           // 余热利用
	"energy_optimization",  // 能量系统优化
	"kitchen_waste",        // 餐厨废弃物
	"renewable_resources",  // 再生资源 / 城市矿产
	"remanufacturing",      // 再制造
	"pollution_control",    // 污染治理
	"renewable_energy",     // 新能源与可再生能源
	"park_transformation",  // 园区循环化改造
}

// Valid reports whether c is a known category.
func (c Category) Valid() bool {
	for _, k := range Categories {
		if c == k {
			return true
		}
	}
	return false
}
