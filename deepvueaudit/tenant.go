package deepvueaudit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
)

// Tenants: one table holds the trails of many tenants (a KYC platform's
// merchants), each its own Merkle tree with its own head, its own
// checkpoints (their origin names the tenant; they are stored under a
// folder of the tenant's) and its own anchor: Verify, Proof, Purge, Hold
// and Checkpoint of one tenant read and write that tenant's rows, head and
// checkpoints only. A row's tenant is in its leaf, so a row (or a
// checkpoint) of one tenant cannot pass for another's.

// checkTenant returns why id cannot be a tenant, as deepvue.WithTenant
// rules: 1 to 64 ASCII letters, digits and "-._:", no run of 10 or more
// digits (separators between them not counting: an Aadhaar or mobile
// number) and no "@"; "" is the default tenant.
func checkTenant(id string) error {
	if id == "" {
		return nil
	}
	if len(id) > 64 {
		return errors.New("deepvueaudit: a tenant id is at most 64 bytes")
	}
	run := 0
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= '0' && b <= '9':
			run++
			if run >= 10 {
				return errors.New("deepvueaudit: a tenant id must not hold 10 or more digits in a row (it could be an Aadhaar or mobile number)")
			}
		case b == '-' || b == '.' || b == '_' || b == ':':
		case (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'):
			run = 0
		default:
			return errors.New("deepvueaudit: a tenant id is ASCII letters, digits and -._: only")
		}
	}
	return nil
}

// originOf is the origin line of a tenant's checkpoints.
func originOf(table, tenant string) string {
	if tenant == "" {
		return "deepvueaudit/" + table
	}
	return "deepvueaudit/" + table + "/" + tenant
}

// tenantDir is the folder of a tenant's files in a store, under the
// table's: "" for the default tenant (the table's folder itself, as before
// tenants), "t-<id>" for an id of letters, digits, "-" and "_", else
// "x-<hex of id>" (a store name holds no ":", and ".." is refused).
func tenantDir(tenant string) string {
	if tenant == "" {
		return ""
	}
	for i := 0; i < len(tenant); i++ {
		b := tenant[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return "x-" + hex.EncodeToString([]byte(tenant)) + "/"
		}
	}
	return "t-" + tenant + "/"
}

// ForTenant returns the Log of tenant id (the same Log for the same id):
// its Verify, Proof, Checkpoint, Purge, Hold and Release work on that
// tenant's trail only, and its Record appends a record without a tenant to
// it. The Logs of one Open share the connection pool, the appender (a
// batch may hold the rows of many tenants: one commit) and the background
// checkpoints; Close on any of them closes them all. An id is what
// deepvue.WithTenant accepts: 1 to 64 ASCII letters, digits and "-._:",
// with no run of 10 digits and no "@" ("" is the default tenant).
func (l *Log) ForTenant(id string) (*Log, error) {
	if err := checkTenant(id); err != nil {
		return nil, err
	}
	return l.tenantLog(id), nil
}

// Tenant returns the Log's tenant ("" for the default one).
func (l *Log) Tenant() string { return l.tenant }

// Tenants returns the tenants that have a trail in the table (a head row),
// sorted; the default tenant "" first.
func (l *Log) Tenants(ctx context.Context) ([]string, error) {
	rs, err := l.db.QueryContext(ctx, `SELECT tenant FROM "`+l.name+`_head" ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: listing the tenants: %w", err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var t string
		if err := rs.Scan(&t); err != nil {
			return nil, fmt.Errorf("deepvueaudit: listing the tenants: %w", err)
		}
		out = append(out, t)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("deepvueaudit: listing the tenants: %w", err)
	}
	return out, nil
}
