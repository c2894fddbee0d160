package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// loader overlays a file and the environment on a configuration, recording
// where each value came from and every problem it meets.
type loader struct {
	file     string            // file name for messages
	origins  map[string]origin // key path (or path[i] for list items) -> origin
	problems []problem
}

func newLoader(file string) *loader {
	return &loader{file: file, origins: make(map[string]origin)}
}

func (l *loader) fileProblem(line int, key, format string, args ...any) {
	l.problems = append(l.problems, problem{
		origin: origin{file: l.file, line: line},
		key:    key,
		msg:    fmt.Sprintf(format, args...),
	})
}

// decodeFile overlays the YAML document in data on root, a struct.
func (l *loader) decodeFile(root reflect.Value, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) { // io.EOF: no document at all, which is fine
			l.yamlError(err)
		}
		return
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		l.fileProblem(next.Line, "", "a second YAML document; want exactly one")
	case !errors.Is(err, io.EOF):
		l.yamlError(err)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	n = deref(n)
	switch {
	case isNull(n):
	case n.Kind != yaml.MappingNode:
		l.fileProblem(n.Line, "", "want a mapping of keys at the top level, got %s", describe(n))
	default:
		l.mapping(root, n, "", 0)
	}
}

// yamlError records a syntax error from the yaml package, moving its
// "yaml: line N: " into the usual "file:N: " form.
func (l *loader) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	l.fileProblem(line, "", "invalid YAML: %s", msg)
}

// mapping decodes the mapping node n into struct v whose key path is prefix.
// A nonzero at is the line of the alias that n was reached through: every
// key below it is reported at that line, where the value is used, rather
// than at the anchor's lines.
func (l *loader) mapping(v reflect.Value, n *yaml.Node, prefix string, at int) {
	fields := make(map[string]int)
	for _, f := range structFields(v.Type()) {
		fields[f.key] = f.index
	}
	seen := make(map[string]int) // key -> line it was first set at
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		line := cmp.Or(at, n.Content[i].Line)
		if k.Kind != yaml.ScalarNode || isNull(k) {
			l.fileProblem(line, prefix, "want a key, got %s", describe(k))
			continue
		}
		key := joinKey(prefix, k.Value)
		if k.ShortTag() == "!!merge" {
			l.fileProblem(line, key, "merge keys are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.fileProblem(line, key, "duplicate key, first set at line %d", first)
			continue
		}
		seen[k.Value] = n.Content[i].Line
		index, ok := fields[k.Value]
		if !ok {
			l.fileProblem(line, key, "unknown key")
			continue
		}
		l.value(v.Field(index), val, key, line, at)
	}
}

// value decodes node n into v, the value of key at line. at is as for
// mapping; if n is itself an alias and at is not yet set, its line is used.
func (l *loader) value(v reflect.Value, n *yaml.Node, key string, line, at int) {
	if n.Kind == yaml.AliasNode && at == 0 {
		at = n.Line
	}
	n = deref(n)
	switch v.Kind() {
	case reflect.Struct:
		switch {
		case isNull(n): // a section with every key commented out
		case n.Kind != yaml.MappingNode:
			l.fileProblem(line, key, "want a mapping, got %s", describe(n))
		default:
			l.mapping(v, n, key, at)
		}
	case reflect.Slice:
		l.list(v, n, key, line, at)
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			l.origins[key] = origin{file: l.file, line: line}
			return
		}
		elem := reflect.New(v.Type().Elem())
		l.value(elem.Elem(), n, key, line, at)
		v.Set(elem)
	case reflect.Map:
		l.stringMap(v, n, key, line, at)
	default:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			l.fileProblem(line, key, "want %s, got %s", want(v.Type()), describe(n))
			return
		}
		if err := setScalar(v, n.Value); err != nil {
			l.fileProblem(line, key, "%v", err)
			return
		}
		l.origins[key] = origin{file: l.file, line: line}
	}
}

// list decodes the sequence node n into slice v. The list replaces the
// default as a whole, and is left alone if any item is bad. at is as for
// mapping.
func (l *loader) list(v reflect.Value, n *yaml.Node, key string, line, at int) {
	if n.Kind != yaml.SequenceNode {
		l.fileProblem(line, key, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	items := make(map[string]origin, len(n.Content))
	ok := true
	for i, item := range n.Content {
		ikey := fmt.Sprintf("%s[%d]", key, i)
		iline := cmp.Or(at, item.Line)
		item = deref(item)
		if s.Index(i).Kind() == reflect.Struct {
			// A list of objects, such as routes: each item is a mapping,
			// whose keys record their own lines.
			before := len(l.problems)
			l.value(s.Index(i), item, ikey, iline, at)
			ok = ok && len(l.problems) == before
			items[ikey] = origin{file: l.file, line: iline}
			continue
		}
		if item.Kind != yaml.ScalarNode || isNull(item) {
			l.fileProblem(iline, ikey, "want %s, got %s", want(v.Type().Elem()), describe(item))
			ok = false
			continue
		}
		if err := setScalar(s.Index(i), item.Value); err != nil {
			l.fileProblem(iline, ikey, "%v", err)
			ok = false
			continue
		}
		items[ikey] = origin{file: l.file, line: iline}
	}
	// A list of objects is kept even with a bad item, so that validation
	// reports the problems of the others too; the load fails either way.
	if !ok && v.Type().Elem().Kind() != reflect.Struct {
		return
	}
	if s.Len() == 0 {
		s = reflect.Zero(v.Type()) // [] is nil, as an absent list is
	}
	v.Set(s)
	l.origins[key] = origin{file: l.file, line: line}
	for k, o := range items {
		l.origins[k] = o
	}
}

// stringMap decodes the mapping node n into v, a map of strings to strings
// such as a mapping's labels. at is as for mapping.
func (l *loader) stringMap(v reflect.Value, n *yaml.Node, key string, line, at int) {
	if n.Kind != yaml.MappingNode {
		l.fileProblem(line, key, "want a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), deref(n.Content[i+1])
		kline := cmp.Or(at, n.Content[i].Line)
		if k.Kind != yaml.ScalarNode || isNull(k) {
			l.fileProblem(kline, key, "want a key, got %s", describe(k))
			continue
		}
		ikey := joinKey(key, k.Value)
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			l.fileProblem(kline, ikey, "duplicate key")
			continue
		}
		if val.Kind != yaml.ScalarNode || isNull(val) {
			l.fileProblem(kline, ikey, "want a string, got %s", describe(val))
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
		l.origins[ikey] = origin{file: l.file, line: kline}
	}
	if m.Len() == 0 {
		m = reflect.Zero(v.Type()) // {} is nil, as an absent mapping is
	}
	v.Set(m)
	l.origins[key] = origin{file: l.file, line: line}
}

// applyEnv overlays the environment variable of every leaf of root that
// getenv returns non-empty.
func (l *loader) applyEnv(root reflect.Value, getenv func(string) string) {
	for _, lf := range leaves(root.Type()) {
		name := envName(lf.path)
		s := getenv(name)
		if s == "" {
			continue
		}
		o := origin{env: name}
		v := root.FieldByIndex(lf.index)
		if v.Kind() == reflect.Slice {
			if !l.envList(v, s, lf.path, o) {
				continue
			}
		} else if err := setScalar(v, s); err != nil {
			l.problems = append(l.problems, problem{origin: o, key: lf.path, msg: err.Error()})
			continue
		}
		for k := range l.origins {
			if strings.HasPrefix(k, lf.path+"[") {
				delete(l.origins, k)
			}
		}
		l.origins[lf.path] = o
	}
}

// envList sets slice v from a comma-separated list. Items are trimmed of
// spaces and empty items are dropped, so "," is an empty list. It reports
// whether v was set.
func (l *loader) envList(v reflect.Value, s, key string, o origin) bool {
	var parts []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	list := reflect.Zero(v.Type()) // "," is nil, as an empty list in the file is
	if len(parts) > 0 {
		list = reflect.MakeSlice(v.Type(), len(parts), len(parts))
	}
	ok := true
	for i, p := range parts {
		if err := setScalar(list.Index(i), p); err != nil {
			l.problems = append(l.problems, problem{origin: o, key: fmt.Sprintf("%s[%d]", key, i), msg: err.Error()})
			ok = false
		}
	}
	if ok {
		v.Set(list)
	}
	return ok
}

// locate fills in where the value behind each problem came from. A key
// that has no origin of its own, such as a list item or an unset key of a
// declared route, takes that of the nearest key above it that has one.
func (l *loader) locate(ps []problem) []problem {
	for i, p := range ps {
		key := p.key
		o, ok := l.origins[key]
		for !ok && key != "" {
			key = key[:max(strings.LastIndexAny(key, ".["), 0)]
			o, ok = l.origins[key]
		}
		ps[i].origin = o
	}
	return ps
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what node n is, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}
