-- deepvueaudit: the audit trail's tables. Run as the owner; then grant the
-- application's role what Grants lists (INSERT and SELECT on the rows,
-- SELECT, a new tenant's head and an UPDATE of the head's tree columns,
-- SELECT on the kept hashes): nothing else.
CREATE TABLE IF NOT EXISTS "deepvue_audit" (
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
CREATE INDEX IF NOT EXISTS "deepvue_audit_call_id" ON "deepvue_audit" (tenant, call_id);
CREATE INDEX IF NOT EXISTS "deepvue_audit_recorded_at" ON "deepvue_audit" (tenant, recorded_at);
CREATE INDEX IF NOT EXISTS "deepvue_audit_kept" ON "deepvue_audit" (tenant, seq) WHERE stage IN ('hold', 'release', 'archive');
CREATE TABLE IF NOT EXISTS "deepvue_audit_head" (
	tenant          text        PRIMARY KEY,
	size            bigint      NOT NULL DEFAULT 0,
	root            bytea       NOT NULL DEFAULT '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
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
		WHERE table_schema = current_schema() AND table_name = 'deepvue_audit' AND column_name = 'detail') THEN
		ALTER TABLE "deepvue_audit" ADD COLUMN detail text NOT NULL DEFAULT '';
		ALTER TABLE "deepvue_audit_head" ALTER COLUMN size SET DEFAULT 0, ALTER COLUMN root SET DEFAULT '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
			ALTER COLUMN frontier SET DEFAULT '\x', ALTER COLUMN updated_at SET DEFAULT now();
	END IF;
END $$;
INSERT INTO "deepvue_audit_head" (tenant) VALUES ('') ON CONFLICT (tenant) DO NOTHING;
CREATE TABLE IF NOT EXISTS "deepvue_audit_tree" (
	tenant text   NOT NULL,
	idx    bigint NOT NULL,
	hash   bytea  NOT NULL,
	PRIMARY KEY (tenant, idx)
);
-- deepvueaudit: what the application's role may do, and nothing else.
GRANT SELECT, INSERT ON "deepvue_audit" TO "deepvue_app";
GRANT SELECT ON "deepvue_audit_head" TO "deepvue_app";
GRANT INSERT (tenant) ON "deepvue_audit_head" TO "deepvue_app";
GRANT UPDATE (size, root, frontier, updated_at, checkpoint_size, checkpoint_at) ON "deepvue_audit_head" TO "deepvue_app";
GRANT SELECT ON "deepvue_audit_tree" TO "deepvue_app";
