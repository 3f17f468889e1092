package deepvue

// WithTenant labels the Client with a tenant id, for a service that holds
// one Client per tenant (a KYC platform's merchants, say): every
// AuditRecord of its calls carries it in Tenant, every CallInfo (and so
// AttemptInfo) the Observer sees in Tenant, the Debug "call finished" record
// in "tenant", and the deepvueotel module puts it on spans and metrics as the
// attribute deepvue.tenant. The label goes into logs and telemetry in clear,
// so it must be an opaque id and never a customer's: 1 to 64 ASCII letters,
// digits and "-._:", with no run of 10 or more digits (separators between
// them not counting: an Aadhaar or mobile number) and no "@" (an e-mail
// address). Anything else is refused with a *ValidationError naming
// FieldTenant, which never shows the value. Without it (or with ""), records
// carry no tenant.
func WithTenant(id string) Option {
	return func(s *settings) error {
		if id == "" {
			s.tenant = ""
			return nil
		}
		if reason := checkTenant(id); reason != "" {
			return invalid(FieldTenant, reason)
		}
		s.tenant = id
		return nil
	}
}

// checkTenant returns why id is not a usable tenant label, or "".
func checkTenant(id string) string {
	if len(id) > 64 {
		return "must be at most 64 bytes"
	}
	run := 0 // digits in the current run, separators skipped
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= '0' && b <= '9':
			run++
			if run >= 10 {
				return "must not hold 10 or more digits in a row (it could be an Aadhaar or mobile number: use an opaque id)"
			}
		case b == '-' || b == '.' || b == '_' || b == ':':
		case (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'):
			run = 0
		case b == '@':
			return "must not hold '@' (it could be an e-mail address: use an opaque id)"
		default:
			return "must be ASCII letters, digits and -._: only"
		}
	}
	return ""
}
