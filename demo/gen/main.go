// Command gen writes demo/dataset.json from demo.Build (run by go generate ./demo).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/zjfund/ledger/demo"
)

func main() {
	d, err := demo.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	b, err := demo.Encode(d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("dataset.json", b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	n := 0
	for _, a := range d.Aggregates {
		if a.Reproduced {
			n++
		}
	}
	fmt.Printf("dataset.json: %d projects, %d steps, %d of %d aggregates reproduced\n", len(d.Projects), steps(d), n, len(d.Aggregates))
	_ = json.Valid(b)
}

func steps(d *demo.Dataset) int {
	n := 0
	for _, p := range d.Projects {
		n += len(p.Steps)
	}
	return n
}
