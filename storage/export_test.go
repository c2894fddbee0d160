package storage

import (
	"context"
	"database/sql"
)

// Pool returns the store's connection pool, for tests that check the
// settings its connections run with.
func Pool(db *DB) *sql.DB { return db.sql }

// LockMySQL takes the MySQL named lock name as Migrate takes its own, waiting
// up to timeoutSeconds for it, so that tests can use a name (and a wait) of
// their own rather than hold up every other test's migrations.
func LockMySQL(ctx context.Context, db *DB, name string, timeoutSeconds int) (unlock func(), err error) {
	return mysqlNamedLock(name, timeoutSeconds)(ctx, db.connector)
}

// MigrateTo brings the schema up to version, and no further, for tests of
// what a migration does to the data it finds.
func MigrateTo(ctx context.Context, db *DB, version int64) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}
