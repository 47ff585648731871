package domain

import (
	"fmt"
	"reflect"
	"time"
	"unicode"
	"unicode/utf8"
)

// The plausible window of every date and effective time a command may
// carry: from the start of the reform era's project programmes to the end of
// this century. The reports' projects lie in 2005–2015.
var (
	EarliestDate = time.Date(1980, 1, 1, 0, 0, 0, 0, cst)
	LatestDate   = time.Date(2099, 12, 31, 23, 59, 59, 0, cst)
)

// MaxText is the most bytes a text field of a command may hold.
const MaxText = 4000

// CheckBounds refuses, as an invalid-field error naming the field, a command
// whose dates or times lie outside [EarliestDate, LatestDate] or whose text
// is not valid UTF-8, holds control characters (a line feed and a tab are
// allowed in free text) or exceeds MaxText bytes. It is a check of input, not
// a rule of the lifecycle: it is applied to commands as they arrive, never to
// recorded history, so events recorded before it stay valid.
func CheckBounds(cmd Command) error {
	return checkValue(reflect.ValueOf(cmd), "")
}

var (
	dateType = reflect.TypeOf(Date(""))
	timeType = reflect.TypeOf(time.Time{})
)

func checkValue(v reflect.Value, field string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkValue(v.Elem(), field)
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			if !t.IsZero() && (t.Before(EarliestDate) || t.After(LatestDate)) {
				return invalid(field, "%s lies outside %s–%s", t.Format(time.RFC3339), EarliestDate.Format(time.DateOnly), LatestDate.Format(time.DateOnly))
			}
			return nil
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name := jsonName(f)
			if f.Anonymous {
				name = field
			}
			if err := checkValue(v.Field(i), name); err != nil {
				return err
			}
		}
	case reflect.String:
		s := v.String()
		if v.Type() == dateType {
			if s == "" {
				return nil
			}
			d := Date(s).Time()
			if d.IsZero() {
				return nil // malformed dates are the command's own validation
			}
			if d.Before(EarliestDate) || d.After(LatestDate) {
				return invalid(field, "%s lies outside %s–%s", s, EarliestDate.Format(time.DateOnly), LatestDate.Format(time.DateOnly))
			}
			return nil
		}
		return CheckText(field, s, MaxText, true)
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := checkValue(v.Index(i), fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if err := checkValue(it.Key(), field); err != nil {
				return err
			}
			if err := checkValue(it.Value(), field); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckText refuses text that is not valid UTF-8, holds control characters
// (with multiline, a line feed and a tab are allowed) or exceeds max bytes.
func CheckText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return invalid(field, "must be at most %d bytes, got %d", max, len(s))
	}
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	for _, c := range s {
		if unicode.IsControl(c) && !(multiline && (c == '\n' || c == '\t')) {
			return invalid(field, "must not contain the control character %U", c)
		}
	}
	return nil
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			tag = tag[:i]
			break
		}
	}
	if tag == "" || tag == "-" {
		return f.Name
	}
	return tag
}
