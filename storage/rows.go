package storage

import (
	"context"
	"database/sql"
	"strings"
)

// Statements that carry many rows, or list many keys, are cut so that none
// has more than maxStatementRows rows or keys, which keeps them well under
// SQLite's and MySQL's limits on placeholders, nor, past its first row, more
// than maxStatementBytes bytes of text arguments, which keeps it under
// MySQL's max_allowed_packet (16 MiB by default on MariaDB).
const (
	maxStatementRows  = 500
	maxStatementBytes = 4 << 20
)

// rowWriter writes rows with multi-row statements: head (such as "INSERT
// INTO t (a, b) VALUES "), a tuple of placeholders per row, then tail (such
// as an upsert clause). Add queues rows and writes them as the statement
// fills up; flush writes the rest.
type rowWriter struct {
	tx    *sql.Tx
	head  string
	tuple string
	tail  string
	args  []any
	rows  int
	bytes int
}

// newRowWriter returns a writer of rows of cols values in tx.
func newRowWriter(tx *sql.Tx, head string, cols int, tail string) *rowWriter {
	return &rowWriter{tx: tx, head: head, tuple: "(" + placeholders(cols) + ")", tail: tail}
}

// add queues a row, first writing the rows queued before when the row would
// make their statement too long.
func (w *rowWriter) add(ctx context.Context, row ...any) error {
	size := 0
	for _, v := range row {
		switch v := v.(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
		default:
			size += 8
		}
	}
	if w.rows == maxStatementRows || w.rows > 0 && w.bytes+size > maxStatementBytes {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	w.args = append(w.args, row...)
	w.rows++
	w.bytes += size
	return nil
}

// flush writes the queued rows, if any.
func (w *rowWriter) flush(ctx context.Context) error {
	if w.rows == 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(len(w.head) + w.rows*(len(w.tuple)+2) + len(w.tail))
	b.WriteString(w.head)
	for i := range w.rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(w.tuple)
	}
	b.WriteString(w.tail)
	_, err := w.tx.ExecContext(ctx, b.String(), w.args...)
	clear(w.args)
	w.args, w.rows, w.bytes = w.args[:0], 0, 0
	return err
}

// placeholders returns n comma-separated placeholders: "?, ?, ?".
func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// forKeys calls fn with keys, in order, cut into parts of at most
// maxStatementRows, each with its keys as arguments and their placeholders,
// for a statement such as "... WHERE id IN (" + in + ")".
func forKeys(keys []int64, fn func(in string, args []any) error) error {
	for start := 0; start < len(keys); start += maxStatementRows {
		part := keys[start:min(start+maxStatementRows, len(keys))]
		args := make([]any, len(part))
		for i, k := range part {
			args[i] = k
		}
		if err := fn(placeholders(len(part)), args); err != nil {
			return err
		}
	}
	return nil
}
