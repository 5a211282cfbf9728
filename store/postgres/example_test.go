package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/postgres"
)

// Open a store on a PostgreSQL database and run a host on it. Every host that opens the same
// database shares the work; each is woken by the work the others make visible.
func ExampleOpen() {
	ctx := context.Background()
	st, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithMaxConns(16))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(st) // the host uses the store's capabilities, wake-ups included
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Start(); err != nil {
		log.Fatal(err)
	}
	defer h.Stop(ctx)
}
