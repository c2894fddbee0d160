package sources

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/tocsinhq/tocsin/alerts"
)

// parseGeneric reads a generic JSON payload through s.Mapping. Errors name
// the alert at fault as "alerts[i]" (the i-th element of the mapping's
// alerts array, or alerts[0] when the body is one alert), with the mapping
// field that read it in the message; errors about labels and annotations
// name them as Parse does for the other kinds.
func (s *Source) parseGeneric(body []byte, lim Limits) ([]alerts.Event, error) {
	if firstByte(body) != '{' {
		return nil, alerts.Invalid("", "the body must be a JSON object")
	}
	root, err := readTree(body)
	if err != nil {
		return nil, err
	}
	m := s.Mapping
	list := []any{root}
	if m.Alerts != "" {
		switch v := lookup(root, m.Alerts).(type) {
		case nil:
			return nil, alerts.Invalid("alerts", "mapping alerts: %s is missing", m.Alerts)
		case []any:
			list = v
		default:
			return nil, alerts.Invalid("alerts", "mapping alerts: %s is %s, want an array", m.Alerts, describe(v))
		}
	}
	if err := checkCount(len(list), lim); err != nil {
		return nil, err
	}
	events := make([]alerts.Event, len(list))
	for i, v := range list {
		field := alertField(i)
		a, ok := v.(map[string]any)
		if !ok {
			return nil, alerts.Invalid(field, "is %s, want an object", describe(v))
		}
		ev, err := m.event(field, a, s.Name)
		if err != nil {
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

// event reads alert a, named field, through the mapping.
//
// Values become label and annotation values as they are (strings) or as
// their JSON text (numbers and booleans); a null or missing value leaves
// the label or annotation out, and an object or array is an error. The
// members of LabelsFrom and AnnotationsFrom that are objects, arrays or
// null are left out; Labels and Annotations win over them.
func (m *Mapping) event(field string, a map[string]any, source string) (alerts.Event, error) {
	labels, err := m.fields(field, a, "labels", m.LabelsFrom, m.Labels)
	if err != nil {
		return alerts.Event{}, err
	}
	annotations, err := m.fields(field, a, "annotations", m.AnnotationsFrom, m.Annotations)
	if err != nil {
		return alerts.Event{}, err
	}
	status := alerts.StatusFiring
	if m.Status != "" {
		v := lookup(a, m.Status)
		if v == nil {
			return alerts.Event{}, alerts.Invalid(field, "mapping status: %s is missing", m.Status)
		}
		text, ok := textOf(v)
		if !ok {
			return alerts.Event{}, alerts.Invalid(field, "mapping status: %s is %s, want a string", m.Status, describe(v))
		}
		if slices.Contains(m.ResolvedValues, text) {
			status = alerts.StatusResolved
		}
	}
	if err := checkLabels(field+".labels", labels); err != nil {
		return alerts.Event{}, err
	}
	if err := checkAnnotations(field+".annotations", annotations, genericAnnotationName); err != nil {
		return alerts.Event{}, err
	}
	return newEvent(source, labels, annotations, status), nil
}

// fields reads the labels or the annotations (which, the mapping field
// names) of alert a: the members of the object at fromPath, then the value
// at each path of byName.
func (m *Mapping) fields(field string, a map[string]any, which, fromPath string, byName map[string]string) (map[string]string, error) {
	out := make(map[string]string)
	if fromPath != "" {
		switch from := lookup(a, fromPath).(type) {
		case nil:
		case map[string]any:
			for name, v := range from {
				if text, ok := textOf(v); ok {
					out[name] = text
				}
			}
		default:
			return nil, alerts.Invalid(field, "mapping %s_from: %s is %s, want an object", which, fromPath, describe(from))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		v := lookup(a, byName[name])
		if v == nil {
			continue
		}
		text, ok := textOf(v)
		if !ok {
			return nil, alerts.Invalid(field, "mapping %s.%s: %s is %s, want a string", which, name, byName[name], describe(v))
		}
		out[name] = text
	}
	return out, nil
}

// genericAnnotationName reports whether name may name an annotation of a
// generic payload: any text a mapping may name one with, and as long as a
// label name may be. A generic payload is not bound by the label name
// syntax that Alertmanager imposes on annotation names.
func genericAnnotationName(name string) bool {
	return name != "" && len(name) <= maxLabelNameLen
}

// number is a JSON number of a generic payload, kept as its JSON text.
type number string

// readTree reads a JSON body into a tree of map[string]any, []any, string,
// number, bool and nil values. It refuses what the JSON decoder refuses:
// malformed JSON, duplicate member names, invalid UTF-8; and anything after
// the first value.
func readTree(body []byte) (any, error) {
	d := jsontext.NewDecoder(bytes.NewReader(body))
	v, err := readValue(d)
	if err != nil {
		return nil, jsonError(body, err, false)
	}
	end := d.InputOffset()
	if _, err := d.ReadToken(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, jsonError(body, err, false)
		}
		return nil, alerts.Invalid("", "malformed JSON after byte %d: more JSON after the body's value", end)
	}
	return v, nil
}

// readValue reads the next JSON value of d as readTree does.
func readValue(d *jsontext.Decoder) (any, error) {
	tok, err := d.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '{':
		m := make(map[string]any)
		for d.PeekKind() != '}' {
			name, err := d.ReadToken()
			if err != nil {
				return nil, err
			}
			key := name.String()
			if m[key], err = readValue(d); err != nil {
				return nil, err
			}
		}
		_, err := d.ReadToken()
		return m, err
	case '[':
		list := []any{}
		for d.PeekKind() != ']' {
			v, err := readValue(d)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := d.ReadToken()
		return list, err
	case '"':
		return tok.String(), nil
	case '0':
		return number(tok.String()), nil
	case 't', 'f':
		return tok.Bool(), nil
	}
	return nil, nil // null
}

// lookup returns the value at a dotted path under v: member names for
// objects, decimal indexes for arrays. A path that leads nowhere (a missing
// member, an index out of range, a step into a string) gives nil, as null
// does.
func lookup(v any, path string) any {
	for step := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[step]
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(x) || strconv.Itoa(i) != step {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// textOf returns the text of a string, number or boolean; ok is false for
// anything else.
func textOf(v any) (text string, ok bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// describe says what kind of JSON value v is, for messages.
func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}
