package deepvueaudit_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"golang.org/x/mod/sumdb/note"
)

// A Client that stores the consent, with its evidence, before each call and
// the outcome after it, in PostgreSQL, with checkpoints signed every minute
// or 1,000 rows; a nightly job that verifies the trail; an auditor's check
// of one call.
func Example() {
	ctx := context.Background()
	// The application's role holds only Grants(table, role); the owner ran
	// Schema(table) once.
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// The signing key lives in the application's secret store, never in the
	// database; the public key goes to the auditors.
	signer, err := note.NewSigner(os.Getenv("AUDIT_SIGNING_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := note.NewVerifier(os.Getenv("AUDIT_PUBLIC_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	trail, err := deepvueaudit.Open(ctx, db, deepvueaudit.WithCheckpoints(deepvueaudit.DirStore("/mnt/audit-worm"), signer, verifier))
	if err != nil {
		log.Fatal(err)
	}
	defer trail.Close(ctx)

	const purpose = "KYC for loan account opening"
	client, err := deepvue.NewClient(os.Getenv("DEEPVUE_CLIENT_ID"), os.Getenv("DEEPVUE_CLIENT_SECRET"),
		deepvue.WithAuditLog(trail.Record), deepvue.RequireConsentEvidence(), deepvue.WithPurposes(purpose))
	if err != nil {
		log.Fatal(err)
	}
	notice := sha256.Sum256([]byte("the exact text of the consent notice shown"))
	ctx = deepvue.WithConsentEvidence(ctx, deepvue.ConsentEvidence{NoticeID: "ekyc-notice", NoticeVersion: "3",
		NoticeSHA256: hex.EncodeToString(notice[:]), Language: "en", Channel: "web", AlternativesOffered: true,
		DecidedAt: time.Now().Add(-time.Minute), Operator: "onboarding-web", CustomerRef: "c_51f0a2"})
	_, err = client.GenerateOTP(ctx, "234123412346", deepvue.ConsentYes, purpose)
	if errors.Is(err, deepvue.ErrAuditFailed) {
		// The consent could not be stored: nothing was sent; try again later.
		log.Print("audit trail unavailable")
	}

	// Nightly: check the rows since the last verified checkpoint (VerifyFull,
	// weekly, reads every row against every signed checkpoint).
	if err := trail.Verify(ctx); err != nil {
		var ve *deepvueaudit.VerifyError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				log.Printf("audit row %d (call %s) %s: %s", p.Seq, p.CallID, p.Kind, p.Reason)
			}
		}
	}
}

// An auditor checks one call's bundle offline, with the public key alone.
func ExampleVerifyProof() {
	bundle, err := os.ReadFile("call-3f2a.json") // from (*Log).Proof
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := note.NewVerifier(os.Getenv("AUDIT_PUBLIC_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	call, err := deepvueaudit.VerifyProof(bundle, verifier)
	if err != nil {
		log.Fatalf("the bundle does not verify: %v", err)
	}
	for _, r := range call.Rows {
		fmt.Println(r.Seq, r.Stage, r.RecordedAt, r.Purpose, r.Evidence.NoticeSHA256, r.Evidence.DecidedAt)
	}
	fmt.Println("in the signed tree of", call.Checkpoint.Size, "rows at", call.Checkpoint.Time)
}

// The SQL a migration runs once, as the tables' owner.
func ExampleSchema() {
	ddl, err := deepvueaudit.Schema(deepvueaudit.DefaultTable)
	if err != nil {
		log.Fatal(err)
	}
	grants, err := deepvueaudit.Grants(deepvueaudit.DefaultTable, "kyc_app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ddl + grants)
}

// The nightly retention job, connected as the tables' owner: each tenant's
// rows older than two years are archived (five more years in the archive
// store's retention), then deleted; held calls stay; the trail and the
// archive are checked after.
func ExampleLog_Purge() {
	ctx := context.Background()
	db, err := sql.Open("pgx", os.Getenv("AUDIT_OWNER_DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	signer, err := note.NewSigner(os.Getenv("AUDIT_SIGNING_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := note.NewVerifier(os.Getenv("AUDIT_PUBLIC_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	trail, err := deepvueaudit.Open(ctx, db, deepvueaudit.WithCheckpoints(deepvueaudit.DirStore("/mnt/audit-worm"), signer, verifier))
	if err != nil {
		log.Fatal(err)
	}
	defer trail.Close(ctx)
	archive := deepvueaudit.DirStore("/mnt/audit-archive")
	tenants, err := trail.Tenants(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range tenants {
		l, err := trail.ForTenant(id)
		if err != nil {
			log.Fatal(err)
		}
		res, err := l.Purge(ctx, deepvueaudit.Retention{Keep: 2 * 365 * 24 * time.Hour, Archive: archive})
		if err != nil {
			log.Printf("tenant %q: %v", id, err) // a *ChainError: nothing of that batch was deleted
			continue
		}
		log.Printf("tenant %q: %d rows archived and deleted in %d segments, %d kept", id, res.Rows, len(res.Segments), res.Kept)
		if err := l.Verify(ctx); err != nil {
			log.Printf("tenant %q: %v", id, err)
		}
		if _, err := l.VerifyArchive(ctx, archive); err != nil {
			log.Printf("tenant %q: %v", id, err)
		}
	}
}

// A legal hold: the call's rows stay in the live trail, whatever the
// retention, until the hold is released.
func ExampleLog_Hold() {
	ctx := context.Background()
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	trail, err := deepvueaudit.Open(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	merchant, err := trail.ForTenant("merchant-0042")
	if err != nil {
		log.Fatal(err)
	}
	const callID = "3f2a9c1e5b7d4a6f8e0c2b4d6f8a0c2e" // from the application's records
	if err := merchant.Hold(ctx, callID, "CS(COMM) 41/2026, Delhi High Court"); err != nil {
		log.Fatal(err)
	}
	// ... the dispute ends.
	if err := merchant.Release(ctx, callID, "CS(COMM) 41/2026 disposed of"); err != nil {
		log.Fatal(err)
	}
}
