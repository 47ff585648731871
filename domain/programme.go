package domain

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
