package deepvueaudit_test

import (
	"context"
	"database/sql"
	"errors"
	"log"
	"os"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// A Client that stores the consent before each call and the outcome after
// it, in PostgreSQL; a nightly job that verifies the trail and purges what
// is past the retention period.
func Example() {
	ctx := context.Background()
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	trail, err := deepvueaudit.New(ctx, db) // creates the tables if missing
	if err != nil {
		log.Fatal(err)
	}
	client, err := deepvue.NewClient(os.Getenv("DEEPVUE_CLIENT_ID"), os.Getenv("DEEPVUE_CLIENT_SECRET"),
		deepvue.WithAuditLog(trail.Record))
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.GenerateOTP(ctx, "234123412346", deepvue.ConsentYes, "KYC for loan account opening")
	if errors.Is(err, deepvue.ErrAuditFailed) {
		// The consent could not be stored: nothing was sent; try again later.
		log.Print("audit trail unavailable")
	}

	// Nightly: check the chain, then delete what is past seven years (two
	// kept, five archived: archive the rows first).
	if err := trail.Verify(ctx); err != nil {
		var ce *deepvueaudit.ChainError
		if errors.As(err, &ce) {
			log.Printf("audit row %d (call %s) %s", ce.Seq, ce.CallID, ce.Reason)
		}
	}
	if n, err := trail.Purge(ctx, time.Now().AddDate(-7, 0, 0)); err == nil {
		log.Printf("purged %d rows", n)
	}
}
