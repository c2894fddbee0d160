package config

import (
	"log/slog"
	"os"
	"reflect"
)

// Load returns the configuration: [Default], overlaid with the YAML file at
// path, overlaid with the TOCSIN_* environment variables read through
// getenv, then validated. An empty path means no file (defaults and
// environment only); a nil getenv means no environment.
//
// A file that cannot be read is an error naming the path; for a missing
// file it matches [io/fs.ErrNotExist], so a caller can fall back to
// Load("", getenv) when the path was only the default one. Every other
// problem, in the file, the environment or the resulting values, is
// reported in one error with one line per problem, as [Parse] does. With an
// error, the returned Config is the zero value.
func Load(path string, getenv func(string) string) (Config, error) {
	if path == "" {
		return parse("", nil, getenv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return parse(path, data, getenv)
}

// Parse is [Load] for a file already read: data is the YAML text and name
// the file name used in messages ("config" if empty). Empty data is a valid
// file that sets nothing.
//
// The returned error, if any, has one line per problem, sorted by line in
// the file and then by environment variable. Each line says where the value
// came from and which key it is:
//
//	config.yaml:7: server.listn: unknown key
//	config.yaml:12: queues.alert.size: want an integer, got "ten"
//	TOCSIN_QUEUES_ALERT_SIZE: queues.alert.size: must be at least 1, got -5
//
// Environment variables are named TOCSIN_ followed by the key path
// upper-cased with dots as underscores. A variable that is unset or empty
// changes nothing; a list variable is comma-separated, its items trimmed
// and empty items dropped (so "," sets an empty list).
func Parse(name string, data []byte, getenv func(string) string) (Config, error) {
	if name == "" {
		name = "config"
	}
	return parse(name, data, getenv)
}

// parse is Load and Parse; an empty name means there is no file.
func parse(name string, data []byte, getenv func(string) string) (Config, error) {
	cfg := Default()
	root := reflect.ValueOf(&cfg).Elem()
	l := newLoader(name)
	if name != "" {
		l.decodeFile(root, data)
	}
	if getenv != nil {
		l.applyEnv(root, getenv)
	}
	found := append(readSecrets(&cfg, getenv), validate(cfg)...)
	ps := append(l.problems, l.locate(found)...)
	if err := joinProblems(ps); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// SlogLevel is the slog level that l.Level names; info for a name that
// validation would reject.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
