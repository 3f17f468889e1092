package redact

// Test values, the core's own (helpers_test.go there): python-stdnum's
// public test vector as the Aadhaar number; the OTP, mobile number and
// client secret are made up.
const (
	testSecret  = "live_s3cr3t_value_never_print"
	validNumber = "234123412346"
	testOTP     = "482913"
	testMobile  = "9123456780"
)
