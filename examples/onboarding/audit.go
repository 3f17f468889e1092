package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/deepvue-go/deepvue/deepvueaudit"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// auditTrail opens the PostgreSQL database at databaseURL (DATABASE_URL,
// e.g. postgres://kyc@localhost:5432/kyc) and returns the audit trail the
// Client writes through deepvue.WithAuditLog: a consent row before each call
// is sent (no row, no call) and an outcome row after it. It checks the
// trail once at start, so a trail that was tampered with is reported.
//
// For the demo it creates the tables itself (deepvueaudit.Schema), so its
// role owns them. In production a migration runs Schema and Grants as the
// owner, the service connects as a role with those grants only (it can then
// neither change nor delete a row), and deepvueaudit.WithCheckpoints signs
// the trail with a key the database never holds.
func auditTrail(ctx context.Context, databaseURL string) (*deepvueaudit.Log, func() error, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ddl, err := deepvueaudit.Schema(deepvueaudit.DefaultTable)
	if err == nil {
		_, err = db.ExecContext(ctx, ddl)
	}
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("creating the audit tables: %w", err)
	}
	trail, err := deepvueaudit.Open(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := trail.Verify(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	return trail, db.Close, nil
}
