package deepvue

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWithTenantRefusesWhatCouldBePersonal: ids that could be an Aadhaar
// number, a mobile number or an e-mail address, or that are not plain ASCII
// ids, are refused, and the error never shows them.
func TestWithTenantRefusesWhatCouldBePersonal(t *testing.T) {
	for _, bad := range []string{
		validNumber, "2341-2341-2346", "tenant_2341.2341.2346", testMobile, "m9123456780", "91234:56780",
		"+919123456780", "ops@merchant.example", "merchant 42", "merchant\n42", "mérchant", strings.Repeat("a", 65),
	} {
		_, err := NewClient(testID, testSecret, WithTenant(bad))
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), "%q was accepted", bad)
		assert.Equal(t, FieldTenant, ve.Field)
		assert.ErrorIs(t, err, ErrInvalidInput)
		assert.NotContains(t, err.Error(), bad)
	}
	for _, good := range []string{"merchant-0042", "acme:prod", "t_2024-11-30", "123456789", "a.b-c_d:e", strings.Repeat("a", 64)} {
		_, err := NewClient(testID, testSecret, WithTenant(good))
		assert.NoError(t, err, good)
	}
	_, err := NewClient(testID, testSecret, WithTenant(""))
	assert.NoError(t, err, "no tenant")
}

// TestTenantLabelsAuditObserverAndLog: a Client's tenant is on both audit
// records, on the CallInfo and AttemptInfo its Observer sees, and in its
// Debug record.
func TestTenantLabelsAuditObserverAndLog(t *testing.T) {
	var mu sync.Mutex
	var records []AuditRecord
	var calls []CallInfo
	var attempts []AttemptInfo
	var logs logBuffer
	c, mt := mockClient(t, WithTenant("merchant-0042"), WithLogger(logs.logger()),
		WithAuditLog(func(_ context.Context, r AuditRecord) error {
			mu.Lock()
			defer mu.Unlock()
			records = append(records, r)
			return nil
		}),
		WithObserver(&Observer{
			StartAttempt: func(ctx context.Context, a AttemptInfo, _ http.Header) context.Context {
				mu.Lock()
				defer mu.Unlock()
				attempts = append(attempts, a)
				return ctx
			},
			EndCall: func(_ context.Context, ci CallInfo, _ CallResult) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, ci)
			},
		}))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	require.Len(t, records, 2)
	for _, r := range records {
		assert.Equal(t, "merchant-0042", r.Tenant)
	}
	require.Len(t, calls, 1)
	assert.Equal(t, "merchant-0042", calls[0].Tenant)
	require.Len(t, attempts, 1)
	assert.Equal(t, "merchant-0042", attempts[0].Tenant)
	assert.Contains(t, logs.String(), `"tenant":"merchant-0042"`)

	plain, mt2 := mockClient(t, WithAuditLog(func(_ context.Context, r AuditRecord) error {
		assert.Empty(t, r.Tenant)
		return nil
	}))
	mt2.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err = plain.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
}
