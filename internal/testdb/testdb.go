// Package testdb gives tests the databases they run against: a fresh SQLite
// file always, and a fresh MySQL database when TOCSIN_TEST_MYSQL_DSN names a
// server. Each call makes a database of its own and drops it when the test
// ends, so tests may run in parallel.
//
// TOCSIN_TEST_MYSQL_DSN is a go-sql-driver/mysql DSN whose user may create and
// drop databases; its database name is the prefix of the ones made here. When
// it is unset MySQL tests skip, unless TOCSIN_TEST_REQUIRE_MYSQL=1, which makes
// them fail: CI sets it.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Target is a database a test can open: a storage driver and its DSN.
type Target struct {
	Driver string
	DSN    string
}

// Each runs fn as two subtests, "sqlite" and "mysql", each on a fresh
// database of its own. Without MySQL configured the mysql subtest is skipped,
// with a message saying how to configure it, or fails when
// TOCSIN_TEST_REQUIRE_MYSQL=1.
func Each(t *testing.T, fn func(t *testing.T, target Target)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, MySQL(t)) })
}

// SQLite returns a target on a new SQLite file in the test's temp directory.
func SQLite(t testing.TB) Target {
	return Target{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "tocsin.db")}
}

// MySQL returns a target on a new, empty MySQL database. It skips the test
// when MySQL is not configured (fails, with TOCSIN_TEST_REQUIRE_MYSQL=1).
func MySQL(t testing.TB) Target {
	t.Helper()
	dsn := os.Getenv("TOCSIN_TEST_MYSQL_DSN")
	if dsn == "" {
		if os.Getenv("TOCSIN_TEST_REQUIRE_MYSQL") == "1" {
			t.Fatal("TOCSIN_TEST_REQUIRE_MYSQL=1 but TOCSIN_TEST_MYSQL_DSN is unset")
		}
		t.Skip("MySQL test skipped: set TOCSIN_TEST_MYSQL_DSN (and TOCSIN_TEST_REQUIRE_MYSQL=1 to make it required)")
	}
	return mysqlTarget(t, dsn)
}

// mysqlTarget creates a database named after the DSN's with a random suffix,
// and drops it when the test ends.
func mysqlTarget(t testing.TB, dsn string) Target {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("TOCSIN_TEST_MYSQL_DSN: %v", err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := cfg.DBName
	if name == "" {
		name = "tocsin_test"
	}
	name += "_" + hex.EncodeToString(suffix)

	server := cfg.Clone()
	server.DBName = ""
	admin, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		t.Fatalf("open MySQL: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("create test database on TOCSIN_TEST_MYSQL_DSN: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("mysql", server.FormatDSN())
		if err != nil {
			t.Errorf("open MySQL to drop %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE `" + name + "`"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return Target{Driver: "mysql", DSN: cfg.FormatDSN()}
}
