-- deepvueaudit: the audit trail's tables. Run as the owner; then grant the
-- application's role what Grants lists (INSERT and SELECT on the rows,
-- SELECT and an UPDATE of the head's tree columns): nothing else.
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
	hashes               bytea       NOT NULL,
	PRIMARY KEY (tenant, seq)
);
CREATE INDEX IF NOT EXISTS "deepvue_audit_call_id" ON "deepvue_audit" (tenant, call_id);
CREATE INDEX IF NOT EXISTS "deepvue_audit_recorded_at" ON "deepvue_audit" (tenant, recorded_at);
CREATE TABLE IF NOT EXISTS "deepvue_audit_head" (
	tenant          text        PRIMARY KEY,
	size            bigint      NOT NULL,
	root            bytea       NOT NULL,
	frontier        bytea       NOT NULL,
	updated_at      timestamptz NOT NULL,
	anchor          bigint      NOT NULL DEFAULT 0,
	anchor_frontier bytea       NOT NULL DEFAULT '\x',
	checkpoint_size bigint      NOT NULL DEFAULT 0,
	checkpoint_at   timestamptz
);
INSERT INTO "deepvue_audit_head" (tenant, size, root, frontier, updated_at)
	VALUES ('', 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '\x', now()) ON CONFLICT (tenant) DO NOTHING;
-- deepvueaudit: what the application's role may do, and nothing else.
GRANT SELECT, INSERT ON "deepvue_audit" TO "deepvue_app";
GRANT SELECT ON "deepvue_audit_head" TO "deepvue_app";
GRANT UPDATE (size, root, frontier, updated_at, checkpoint_size, checkpoint_at) ON "deepvue_audit_head" TO "deepvue_app";
