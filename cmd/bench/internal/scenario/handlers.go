package scenario

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The application handlers: both servers of a scenario run exactly these,
// so that a comparison measures what sits around them.

// docBody is the 4 KB JSON document of the cached path.
var docBody = catalog("doc", 4096)

// itemPrefix and itemSuffix surround the id in the full stack's item
// document, about 4 KB in all.
var itemPrefix, itemSuffix = func() ([]byte, []byte) {
	doc := catalog("item", 4096)
	// {"id":"doc-item", ... } -> split at the id value.
	i := strings.Index(doc, `"id":"`) + len(`"id":"`)
	j := i + strings.Index(doc[i:], `"`)
	return []byte(doc[:i]), []byte(doc[j:])
}()

// catalog builds a JSON document of about size bytes that compresses like
// real API output (varied names, numbers and tags), the same on every call.
func catalog(id string, size int) string {
	type entry struct {
		SKU   string   `json:"sku"`
		Name  string   `json:"name"`
		Price float64  `json:"price"`
		Stock int      `json:"stock"`
		Tags  []string `json:"tags"`
	}
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"anchor", "bolt", "cable", "damper", "engine", "flange", "gasket", "hinge",
		"insulator", "joint", "key", "lever", "magnet", "nozzle", "o-ring", "piston", "relay", "spring"}
	doc := struct {
		ID    string  `json:"id"`
		Kind  string  `json:"kind"`
		Items []entry `json:"items"`
	}{ID: id, Kind: "catalog"}
	for {
		b, _ := json.Marshal(doc)
		if len(b) >= size-120 {
			return string(b) + "\n"
		}
		doc.Items = append(doc.Items, entry{
			SKU:   fmt.Sprintf("SKU-%05d", rng.IntN(100000)),
			Name:  words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
			Price: float64(rng.IntN(100000)) / 100,
			Stock: rng.IntN(500),
			Tags:  []string{words[rng.IntN(len(words))], words[rng.IntN(len(words))]},
		})
	}
}

var (
	jsonType    = []string{"application/json"}
	cacheLong   = []string{"public, max-age=300"}
	cacheMinute = []string{"public, max-age=60"}
)

// DocHandler serves the cached path's 4 KB JSON document from memory,
// cacheable for 5 minutes.
func DocHandler() http.Handler {
	body := []byte(docBody)
	length := []string{strconv.Itoa(len(body))}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = jsonType
		h["Cache-Control"] = cacheLong
		h["Content-Length"] = length
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// ItemHandler serves the full stack's item document: about 4 KB of JSON
// that carries the {id} of the URL, cacheable for a minute.
func ItemHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		body := make([]byte, 0, len(itemPrefix)+len(id)+len(itemSuffix))
		body = append(body, itemPrefix...)
		body = append(body, id...)
		body = append(body, itemSuffix...)
		h := w.Header()
		h["Content-Type"] = jsonType
		h["Cache-Control"] = cacheMinute
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// Item is a row of the DB path's table.
type Item struct {
	ID    int64   `json:"id"`
	SKU   string  `json:"sku"`
	Name  string  `json:"name"`
	Price float64 `json:"price"`
	Stock int64   `json:"stock"`
}

// DBItemHandler reads the item {id} from db with a prepared statement and
// writes it as JSON: 400 for an id that is not a number, 404 for a missing
// row, 500 when the query fails.
func DBItemHandler(db *sql.DB) (http.Handler, error) {
	stmt, err := db.Prepare(`SELECT id, sku, name, price, stock FROM items WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("preparing the item query: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
		if err != nil {
			http.Error(w, `{"error":"id must be an integer"}`, http.StatusBadRequest)
			return
		}
		var it Item
		err = stmt.QueryRowContext(r.Context(), id).Scan(&it.ID, &it.SKU, &it.Name, &it.Price, &it.Stock)
		switch {
		case err == sql.ErrNoRows:
			http.Error(w, `{"error":"no such item"}`, http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, `{"error":"query failed"}`, http.StatusInternalServerError)
			return
		}
		w.Header()["Content-Type"] = jsonType
		_ = json.NewEncoder(w).Encode(&it)
	}), nil
}
