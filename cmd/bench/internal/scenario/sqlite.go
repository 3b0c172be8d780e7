package scenario

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// OpenDB opens the SQLite database at path, creating and filling the items
// table with DBRows rows when it is empty. The database is in WAL mode, so
// that readers on several connections do not block each other.
func OpenDB(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := fill(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("preparing %s: %w", path, err)
	}
	return db, nil
}

func fill(db *sql.DB) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS items (
		id    INTEGER PRIMARY KEY,
		sku   TEXT NOT NULL,
		name  TEXT NOT NULL,
		price REAL NOT NULL,
		stock INTEGER NOT NULL)`); err != nil {
		return err
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM items`).Scan(&n); err != nil {
		return err
	}
	if n >= DBRows {
		return nil
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.Prepare(`INSERT OR REPLACE INTO items (id, sku, name, price, stock) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	rng := rand.New(rand.NewPCG(3, 5))
	for id := 1; id <= DBRows; id++ {
		if _, err := stmt.Exec(id, fmt.Sprintf("SKU-%05d", id), fmt.Sprintf("item %d", rng.IntN(1_000_000)),
			float64(rng.IntN(100_000))/100, rng.IntN(500)); err != nil {
			return err
		}
	}
	return tx.Commit()
}
