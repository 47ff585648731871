package demo

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed dataset.json
var datasetJSON []byte

// Encode writes the dataset as indented JSON, the form committed as dataset.json.
func Encode(d *Dataset) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Load returns the committed dataset.
func Load() (*Dataset, error) {
	var d Dataset
	if err := json.Unmarshal(datasetJSON, &d); err != nil {
		return nil, fmt.Errorf("decode the demo dataset: %w", err)
	}
	return &d, nil
}
