package deepvueaudit

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// The schema ships as SQL, run once by the tables' owner (a migration, a
// DBA); the application connects as a role that owns nothing and holds only
// the grants Grants lists. Open runs no DDL.

var (
	identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,57}$`)
	roleName   = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

func checkTable(name string) error {
	if !identifier.MatchString(name) {
		return fmt.Errorf("deepvueaudit: table name %q: want a lower-case identifier of at most 58 characters ([a-z_][a-z0-9_]*)", name)
	}
	return nil
}

// Schema returns the SQL that creates the trail's tables: table (its rows,
// the trails of every tenant), table+"_head" (one row per tenant: the tree's
// size, hash and frontier, the purge anchor and the last checkpoint) and
// table+"_tree" (the stored hashes Purge keeps of the subtrees it deletes,
// for the proofs of the rows it keeps), their indexes, and the head of the
// default tenant (""). Run it once as the tables' owner, then Grants for
// the application's role. It is idempotent (IF NOT EXISTS, ON CONFLICT DO
// NOTHING), and run on the tables of deepvueaudit 0.4.0 it upgrades them
// (a column, the head's defaults, the table of kept hashes, an index):
// their rows verify as before. The table is a lower-case identifier of at
// most 58 characters.
func Schema(table string) (string, error) {
	if err := checkTable(table); err != nil {
		return "", err
	}
	r := strings.NewReplacer("{t}", table, "{empty}", hex.EncodeToString(emptyRoot[:]))
	return r.Replace(schemaSQL), nil
}

const schemaSQL = `-- deepvueaudit: the audit trail's tables. Run as the owner; then grant the
-- application's role what Grants lists (INSERT and SELECT on the rows,
-- SELECT, a new tenant's head and an UPDATE of the head's tree columns,
-- SELECT on the kept hashes): nothing else.
CREATE TABLE IF NOT EXISTS "{t}" (
	tenant               text        NOT NULL DEFAULT '',
	seq                  bigint      NOT NULL CHECK (seq > 0),
	call_id              text        NOT NULL,
	stage                text        NOT NULL,
	recorded_at          timestamptz NOT NULL,
	db_time              timestamptz NOT NULL,
	operation            text        NOT NULL,
	purpose              text        NOT NULL,
	consent              text        NOT NULL,
	masked_number        text        NOT NULL,
	reference_id         text        NOT NULL,
	transaction_id       text        NOT NULL,
	outcome              text        NOT NULL,
	otp_state            text        NOT NULL,
	attempts             bigint      NOT NULL,
	notice_id            text        NOT NULL,
	notice_version       text        NOT NULL,
	notice_sha256        text        NOT NULL,
	language             text        NOT NULL,
	channel              text        NOT NULL,
	alternatives_offered boolean     NOT NULL,
	decided_at           timestamptz,
	operator             text        NOT NULL,
	customer_ref         text        NOT NULL,
	detail               text        NOT NULL DEFAULT '',
	hashes               bytea       NOT NULL,
	PRIMARY KEY (tenant, seq)
);
CREATE INDEX IF NOT EXISTS "{t}_call_id" ON "{t}" (tenant, call_id);
CREATE INDEX IF NOT EXISTS "{t}_recorded_at" ON "{t}" (tenant, recorded_at);
CREATE INDEX IF NOT EXISTS "{t}_kept" ON "{t}" (tenant, seq) WHERE stage IN ('hold', 'release', 'archive');
CREATE TABLE IF NOT EXISTS "{t}_head" (
	tenant          text        PRIMARY KEY,
	size            bigint      NOT NULL DEFAULT 0,
	root            bytea       NOT NULL DEFAULT '\x{empty}',
	frontier        bytea       NOT NULL DEFAULT '\x',
	updated_at      timestamptz NOT NULL DEFAULT now(),
	anchor          bigint      NOT NULL DEFAULT 0,
	anchor_frontier bytea       NOT NULL DEFAULT '\x',
	checkpoint_size bigint      NOT NULL DEFAULT 0,
	checkpoint_at   timestamptz
);
-- The tables of deepvueaudit 0.4.0 gain the column and the head's defaults
-- (only then: ALTER TABLE would lock out the appends of a running trail).
DO $$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = '{t}' AND column_name = 'detail') THEN
		ALTER TABLE "{t}" ADD COLUMN detail text NOT NULL DEFAULT '';
		ALTER TABLE "{t}_head" ALTER COLUMN size SET DEFAULT 0, ALTER COLUMN root SET DEFAULT '\x{empty}',
			ALTER COLUMN frontier SET DEFAULT '\x', ALTER COLUMN updated_at SET DEFAULT now();
	END IF;
END $$;
INSERT INTO "{t}_head" (tenant) VALUES ('') ON CONFLICT (tenant) DO NOTHING;
CREATE TABLE IF NOT EXISTS "{t}_tree" (
	tenant text   NOT NULL,
	idx    bigint NOT NULL,
	hash   bytea  NOT NULL,
	PRIMARY KEY (tenant, idx)
);
`

// Grants returns the SQL that gives role what an application needs and no
// more: INSERT and SELECT on the rows (no UPDATE, DELETE or TRUNCATE);
// SELECT on the head, INSERT of a new tenant's head (its tenant column only:
// the rest takes the defaults of an empty tree) and UPDATE of its tree
// columns only (size, root, frontier, updated_at, checkpoint_size,
// checkpoint_at: not the anchor, which only Purge moves, as the owner);
// SELECT on the kept hashes. Run it as the owner, after Schema.
func Grants(table, role string) (string, error) {
	if err := checkTable(table); err != nil {
		return "", err
	}
	if !roleName.MatchString(role) {
		return "", fmt.Errorf("deepvueaudit: role name %q: want a lower-case identifier ([a-z_][a-z0-9_]*)", role)
	}
	r := strings.NewReplacer("{t}", table, "{r}", role)
	return r.Replace(grantsSQL), nil
}

const grantsSQL = `-- deepvueaudit: what the application's role may do, and nothing else.
GRANT SELECT, INSERT ON "{t}" TO "{r}";
GRANT SELECT ON "{t}_head" TO "{r}";
GRANT INSERT (tenant) ON "{t}_head" TO "{r}";
GRANT UPDATE (size, root, frontier, updated_at, checkpoint_size, checkpoint_at) ON "{t}_head" TO "{r}";
GRANT SELECT ON "{t}_tree" TO "{r}";
`
