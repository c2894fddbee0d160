package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// field is an exported struct field and the key it has in the file.
type field struct {
	key   string
	index int
}

// structFields lists the keys of struct type t: the name in a field's yaml
// tag, or its lower-cased Go name as yaml does without one. Fields tagged
// "-" and unexported fields have no key.
func structFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch key {
		case "-":
			continue
		case "":
			key = strings.ToLower(f.Name)
		}
		fs = append(fs, field{key: key, index: i})
	}
	return fs
}

// leaf is a key that holds a value rather than more keys, and that an
// environment variable can set: lists of objects, such as routes, are not
// leaves.
type leaf struct {
	path  string // dotted key path, "queues.alert.size"
	index []int  // for reflect.Value.FieldByIndex from the root
}

// leaves lists the leaf keys of struct type t, depth first in field order.
func leaves(t reflect.Type) []leaf {
	var ls []leaf
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for _, f := range structFields(t) {
			path := joinKey(prefix, f.key)
			idx := append(index[:len(index):len(index)], f.index)
			ft := t.Field(f.index).Type
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, path, idx)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			default:
				ls = append(ls, leaf{path: path, index: idx})
			}
		}
	}
	walk(t, "", nil)
	return ls
}

// envName is the environment variable of a key path: server.max_body_bytes
// is TOCSIN_SERVER_MAX_BODY_BYTES.
func envName(path string) string {
	return "TOCSIN_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// joinKey appends a key to a dotted path. A key that is not a plain word is
// quoted, so that a message about it stays on one line and unambiguous.
func joinKey(prefix, key string) string {
	if !isPlainKey(key) {
		key = strconv.Quote(key)
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func isPlainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[time.Duration]() }

// want describes what a value of type t must look like, for messages.
func want(t reflect.Type) string {
	switch {
	case isDuration(t):
		return `a duration like "10s"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Struct:
		return "a mapping"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "an integer"
	}
	return t.String()
}

// setScalar parses s as a value of v's type and stores it in v. The same
// syntax is used for the file and for the environment: decimal integers, Go
// durations ("1m30s"), strconv.ParseBool booleans, and strings as they are.
func setScalar(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case isDuration(t):
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want %s, got %q", want(t), s)
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want %s, got %q", want(t), s)
		}
		v.SetBool(b)
	case v.CanInt():
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("want %s that fits in %d bits, got %q", want(t), t.Bits(), s)
		}
		if err != nil {
			return fmt.Errorf("want %s, got %q", want(t), s)
		}
		v.SetInt(n)
	default:
		return fmt.Errorf("unsupported type %s", t)
	}
	return nil
}
