package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// origin records where a value came from: a line of the file, an environment
// variable, or neither (the default).
type origin struct {
	file string // file name, when the value came from the file
	line int    // line in file, 0 if unknown
	env  string // variable name, when the value came from the environment
}

// prefix returns the "config.yaml:7: " or "TOCSIN_X: " that starts a message.
func (o origin) prefix() string {
	switch {
	case o.env != "":
		return o.env + ": "
	case o.file != "" && o.line > 0:
		return fmt.Sprintf("%s:%d: ", o.file, o.line)
	case o.file != "":
		return o.file + ": "
	}
	return ""
}

// rank orders problems: those in the file first, then those from the
// environment, then those of defaults.
func (o origin) rank() int {
	switch {
	case o.env != "":
		return 1
	case o.file != "":
		return 0
	}
	return 2
}

// problem is one thing wrong with a configuration.
type problem struct {
	origin
	key string // dotted key path, "" for the file as a whole
	msg string
}

func (p problem) Error() string {
	if p.key == "" {
		return p.prefix() + p.msg
	}
	return p.prefix() + p.key + ": " + p.msg
}

// joinProblems sorts problems into a deterministic order (by file line, then
// by variable name; ties keep the order they were found in) and joins them
// into one error with one line per problem. It returns nil for none.
func joinProblems(ps []problem) error {
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b problem) int {
		return cmp.Or(
			cmp.Compare(a.rank(), b.rank()),
			cmp.Compare(a.line, b.line),
			strings.Compare(a.env, b.env),
		)
	})
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}
