// Package config loads and validates tocsin's configuration.
//
// A configuration starts from [Default], is overlaid with an optional YAML
// file (config.yaml), and then with TOCSIN_* environment variables, in that
// order of precedence: defaults < file < environment. [Load] and [Parse] do
// all three and then validate the result, so a [Config] they return without
// error is one tocsin can run with.
//
// Every problem is reported with where it came from: the file name and line
// for a value read from the file ("config.yaml:7: server.listn: unknown
// key"), or the variable name for a value read from the environment
// (`TOCSIN_QUEUES_ALERT_SIZE: queues.alert.size: want an integer, got "x"`).
// All problems found are returned together, one per line.
//
// The environment variable of a key is derived from its yaml path by
// reflection: TOCSIN_ followed by the path upper-cased with dots turned into
// underscores, so queues.alert.size is TOCSIN_QUEUES_ALERT_SIZE. Adding a
// field with a yaml tag to [Config] is enough to give it a key, a variable,
// decoding and error reporting; its validation rule, if any, goes in
// validate.go, and the tests insist that config.yaml and
// docs/configuration.md list it.
//
// The package starts no goroutines and has no package-level mutable state;
// the environment is read only through the getenv function the caller
// passes in.
package config
