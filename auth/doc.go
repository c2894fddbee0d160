// Package auth defines who may use tocsin: users, their roles, and the API
// tokens they authenticate with.
//
// It is pure: types, validation and token hashing, no I/O. Tokens are random
// (256 bits), shown to their owner once, and stored only as a SHA-256 hash;
// the store looks a presented token up by its hash and the caller confirms
// the match in constant time (see Token.Matches).
//
// The package has no goroutines and no package-level mutable state.
package auth
