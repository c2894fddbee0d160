package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMatchersLen is the longest input, in bytes, that ParseMatcher and
// ParseMatchers accept, and the longest regular expression NewMatcher
// compiles. It keeps the time and memory regexp compilation takes bounded.
const MaxMatchersLen = 4096

// MatchType is how a Matcher compares a label value with its own value.
type MatchType int

// The match types of the Prometheus matcher syntax.
const (
	MatchEqual     MatchType = iota // =: the value is exactly Value
	MatchNotEqual                   // !=: the value is not Value
	MatchRegexp                     // =~: the whole value matches the regexp Value
	MatchNotRegexp                  // !~: the whole value does not match the regexp Value
)

// String returns the operator: "=", "!=", "=~" or "!~"; or "MatchType(n)"
// for a value that is none of these.
func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "MatchType(" + strconv.Itoa(int(t)) + ")"
}

// parseOp returns the match type an operator spells.
func parseOp(op string) (MatchType, bool) {
	switch op {
	case "=":
		return MatchEqual, true
	case "!=":
		return MatchNotEqual, true
	case "=~":
		return MatchRegexp, true
	case "!~":
		return MatchNotRegexp, true
	}
	return 0, false
}

// Matcher selects alerts by one label, as in severity=~"critical|page".
//
// Make Matchers with NewMatcher, ParseMatcher, ParseMatchers or
// ParseMatcherList, which compile regexps; a regexp Matcher made as a struct
// literal has no compiled regexp and matches nothing, not even with !~. A
// Matcher is not changed after it is made, and is safe for concurrent use.
type Matcher struct {
	Name  string
	Type  MatchType
	Value string

	re *regexp.Regexp // for MatchRegexp and MatchNotRegexp: Value, anchored
}

// problem is why a matcher is invalid. The parser reports it at the column
// of the name or the value; NewMatcher reports it without a column.
type problem struct {
	what    string // such as `invalid regexp "a("`
	detail  string // such as "missing closing )"; may be empty
	inValue bool   // the value is at fault, not the name
}

func nameProblem(name string) *problem {
	if ValidLabelName(name) {
		return nil
	}
	return &problem{
		what:   fmt.Sprintf("invalid label name %q", snippet(name)),
		detail: "want [a-zA-Z_][a-zA-Z0-9_]*",
	}
}

// NewMatcher returns a matcher of label name by t and value. Regexps are
// anchored at both ends, as in Prometheus: job=~"api" matches "api" but not
// "api-2".
//
// It returns an ErrInvalid error, with no Field, when name is not a valid
// label name (see ValidLabelName), t is not one of the four match types,
// value is not valid UTF-8, or a regexp value does not compile on its own or
// is longer than MaxMatchersLen bytes.
func NewMatcher(name string, t MatchType, value string) (*Matcher, error) {
	m, p := newMatcher(name, t, value)
	if p != nil {
		msg := p.what
		if p.detail != "" {
			msg += ": " + p.detail
		}
		return nil, &Error{Kind: ErrInvalid, Message: msg}
	}
	return m, nil
}

func newMatcher(name string, t MatchType, value string) (*Matcher, *problem) {
	if p := nameProblem(name); p != nil {
		return nil, p
	}
	if t < MatchEqual || t > MatchNotRegexp {
		return nil, &problem{what: fmt.Sprintf("unknown match type %d", int(t))}
	}
	if !utf8.ValidString(value) {
		return nil, &problem{what: "value is not valid UTF-8", inValue: true}
	}
	m := &Matcher{Name: name, Type: t, Value: value}
	if t == MatchEqual || t == MatchNotEqual {
		return m, nil
	}
	what := fmt.Sprintf("invalid regexp %q", snippet(value))
	if len(value) > MaxMatchersLen {
		return nil, &problem{what: "regexp too long", inValue: true,
			detail: fmt.Sprintf("%d bytes, the limit is %d", len(value), MaxMatchersLen)}
	}
	// Parse the value alone first: wrapped in ^(?:...)$, a value such as
	// `x)|(y` would compile, unanchored.
	if _, err := syntax.Parse(value, syntax.Perl); err != nil {
		detail := err.Error()
		if se, ok := errors.AsType[*syntax.Error](err); ok {
			detail = se.Code.String()
			if se.Expr != "" && se.Expr != value {
				detail += ": `" + snippet(se.Expr) + "`"
			}
		}
		return nil, &problem{what: what, detail: detail, inValue: true}
	}
	re, err := regexp.Compile("^(?:" + value + ")$")
	if err != nil {
		return nil, &problem{what: what, detail: err.Error(), inValue: true}
	}
	m.re = re
	return m, nil
}

// Matches reports whether a label value v satisfies m. A label that is
// absent has the value "", as in Prometheus: name="" matches an alert
// without the label, and name!="" one that has it.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re != nil && m.re.MatchString(v)
	case MatchNotRegexp:
		return m.re != nil && !m.re.MatchString(v)
	}
	return false
}

// String returns m in the matcher syntax, with the value quoted by
// strconv.Quote, such as job=~"api|web". ParseMatcher reads it back.
func (m *Matcher) String() string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}

// MarshalText returns the matcher as String writes it, so that a Matcher is
// a string in JSON.
func (m *Matcher) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses text as ParseMatcher does, and returns its errors.
func (m *Matcher) UnmarshalText(text []byte) error {
	parsed, err := ParseMatcher(string(text))
	if err != nil {
		return err
	}
	*m = *parsed
	return nil
}

// Matchers is a list of matchers that must all match.
type Matchers []*Matcher

// MarshalJSON writes the list as a JSON array of matcher strings; an empty or
// nil list is [].
func (ms Matchers) MarshalJSON() ([]byte, error) {
	exprs := make([]string, len(ms))
	for i, m := range ms {
		exprs[i] = m.String()
	}
	return json.Marshal(exprs)
}

// Matches reports whether every matcher matches its label in ls, where an
// absent label has the value "". An empty list matches every label set.
func (ms Matchers) Matches(ls Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// String returns the list form, such as {a="1", b=~"x|y"}; "{}" when the
// list is empty. ParseMatchers reads it back.
func (ms Matchers) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.String())
	}
	b.WriteByte('}')
	return b.String()
}

// ParseMatcher parses one matcher, such as severity=~"critical|page", with
// optional whitespace around and between its parts. The value is a
// double-quoted string with Go escapes (\" \\ \n \t \u00e9 ...).
//
// It returns an ErrInvalid error, with no Field, whose message says what is
// wrong and at which column (1-based, counting characters), such as
// `unknown operator "=>" at column 9`; and one when s is longer than
// MaxMatchersLen bytes.
func ParseMatcher(s string) (*Matcher, error) {
	if err := checkLen(s); err != nil {
		return nil, err
	}
	p := &parser{s: s}
	m, err := p.matcher()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.atEnd() {
		return nil, p.fail(p.pos, fmt.Sprintf("unexpected %q", p.nextRune()), "want end of matcher")
	}
	return m, nil
}

// ParseMatchers parses a list of matchers, such as {a="1", b=~"x|y"}. The
// braces are optional, a trailing comma is allowed, and so is whitespace
// between any two tokens. "", "{}" and whitespace give an empty list, which
// matches everything.
//
// It returns an ErrInvalid error, with no Field, whose message says what is
// wrong and at which column (1-based, counting characters), such as
// `expected "," or "}" at column 12`; and one when s is longer than
// MaxMatchersLen bytes.
func ParseMatchers(s string) (Matchers, error) {
	if err := checkLen(s); err != nil {
		return nil, err
	}
	p := &parser{s: s}
	p.skipSpace()
	braced := p.eat('{')
	ms := Matchers{}
	for {
		p.skipSpace()
		if p.atEnd() {
			if braced {
				return nil, p.fail(p.pos, `expected label name or "}"`, "")
			}
			return ms, nil
		}
		if braced && p.eat('}') {
			break
		}
		m, err := p.matcher()
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		if braced && p.eat('}') {
			break
		}
		if !braced && p.atEnd() {
			return ms, nil
		}
		want := `expected ","`
		if braced {
			want = `expected "," or "}"`
		}
		return nil, p.fail(p.pos, want, p.found())
	}
	p.skipSpace()
	if !p.atEnd() {
		return nil, p.fail(p.pos, fmt.Sprintf("unexpected %q after \"}\"", p.nextRune()), "")
	}
	return ms, nil
}

// ParseMatcherList parses exprs, each one matcher as ParseMatcher reads it,
// such as the JSON array ["severity=\"critical\"", "team=~\"db|infra\""] of
// a route or a silence. An empty or nil exprs gives an empty list.
//
// On the first matcher that does not parse, it returns ParseMatcher's
// ErrInvalid error with its Field set to field and the index, so that it
// reads `matchers[1]: unknown operator "=>" at column 9`.
func ParseMatcherList(field string, exprs []string) (Matchers, error) {
	ms := make(Matchers, 0, len(exprs))
	for i, expr := range exprs {
		m, err := ParseMatcher(expr)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); ok {
				return nil, &Error{Kind: e.Kind, Field: field + "[" + strconv.Itoa(i) + "]", Message: e.Message}
			}
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func checkLen(s string) error {
	if len(s) > MaxMatchersLen {
		return Invalid("", "matchers too long: %d bytes, the limit is %d", len(s), MaxMatchersLen)
	}
	return nil
}

// parser reads the matcher syntax from s, byte by byte; every delimiter is
// ASCII, so names and values may hold any UTF-8.
type parser struct {
	s   string
	pos int // offset in s of the next byte to read
}

// fail returns an ErrInvalid error "what at column N: detail", N being the
// 1-based column of byte offset pos.
func (p *parser) fail(pos int, what, detail string) error {
	msg := what + " at column " + strconv.Itoa(utf8.RuneCountInString(p.s[:pos])+1)
	if pos >= len(p.s) {
		msg += " (end of input)"
	}
	if detail != "" {
		msg += ": " + detail
	}
	return &Error{Kind: ErrInvalid, Message: msg}
}

func (p *parser) atEnd() bool { return p.pos >= len(p.s) }

func (p *parser) eat(c byte) bool {
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// nextRune returns the character at pos, or "" at the end.
func (p *parser) nextRune() string {
	_, size := utf8.DecodeRuneInString(p.s[p.pos:])
	return p.s[p.pos : p.pos+size]
}

// found describes what is at pos, for an "expected ..." error.
func (p *parser) found() string {
	if p.atEnd() {
		return ""
	}
	return fmt.Sprintf("found %q", p.nextRune())
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

// isDelim reports whether c ends a label name: whitespace, an operator
// character, a quote or a list delimiter.
func isDelim(c byte) bool {
	return isSpace(c) || strings.IndexByte("=!~<>\"'`,{}", c) >= 0
}

// matcher reads one matcher: name, operator, quoted value, with optional
// whitespace before and between them.
func (p *parser) matcher() (*Matcher, error) {
	p.skipSpace()
	nameAt := p.pos
	for p.pos < len(p.s) && !isDelim(p.s[p.pos]) {
		p.pos++
	}
	name := p.s[nameAt:p.pos]
	if name == "" {
		return nil, p.fail(nameAt, "expected label name", p.found())
	}
	if prob := nameProblem(name); prob != nil {
		return nil, p.fail(nameAt, prob.what, prob.detail)
	}

	p.skipSpace()
	opAt := p.pos
	for p.pos < len(p.s) && strings.IndexByte("=!~<>", p.s[p.pos]) >= 0 {
		p.pos++
	}
	op := p.s[opAt:p.pos]
	if op == "" {
		return nil, p.fail(opAt, "expected operator (=, !=, =~ or !~)", p.found())
	}
	t, ok := parseOp(op)
	if !ok {
		return nil, p.fail(opAt, fmt.Sprintf("unknown operator %q", snippet(op)), "want =, !=, =~ or !~")
	}

	p.skipSpace()
	valueAt := p.pos
	value, err := p.quoted()
	if err != nil {
		return nil, err
	}
	m, prob := newMatcher(name, t, value)
	if prob != nil {
		at := nameAt
		if prob.inValue {
			at = valueAt
		}
		return nil, p.fail(at, prob.what, prob.detail)
	}
	return m, nil
}

// quoted reads a double-quoted string with Go escapes and returns its
// value. It decodes as strconv.Unquote does, one character at a time with
// strconv.UnquoteChar, so that an error can name its column.
func (p *parser) quoted() (string, error) {
	start := p.pos
	if !p.eat('"') {
		if !p.atEnd() && p.s[p.pos] == '\'' {
			return "", p.fail(start, "single-quoted value", "use double quotes")
		}
		return "", p.fail(start, "expected double-quoted value", p.found())
	}
	var b strings.Builder
	for {
		if p.atEnd() {
			return "", p.fail(start, "unterminated quoted value starting", "")
		}
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\n':
			return "", p.fail(p.pos, "newline in quoted value", `write it as \n`)
		case c == '\\' && p.pos+1 >= len(p.s):
			return "", p.fail(start, "unterminated quoted value starting", "")
		case c >= utf8.RuneSelf:
			if r, size := utf8.DecodeRuneInString(p.s[p.pos:]); r == utf8.RuneError && size == 1 {
				return "", p.fail(p.pos, "invalid UTF-8 in quoted value", "")
			}
		}
		r, multibyte, tail, err := strconv.UnquoteChar(p.s[p.pos:], '"')
		if err != nil {
			what := "invalid escape sequence"
			if e := p.s[p.pos+1:]; e != "" {
				if r, _ := utf8.DecodeRuneInString(e); unicode.IsPrint(r) && r != utf8.RuneError {
					what += " `\\" + string(r) + "`"
				}
			}
			return "", p.fail(p.pos, what, `want Go escapes such as \" \\ \n \t \u00e9`)
		}
		if r < utf8.RuneSelf || !multibyte {
			b.WriteByte(byte(r))
		} else {
			b.WriteRune(r)
		}
		p.pos = len(p.s) - len(tail)
	}
}

// snippet shortens s for an error message, so that a long name or value is
// not repeated whole.
func snippet(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
