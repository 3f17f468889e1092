package slots

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestMargin: each window is widened by 100 ms plus 0.1 %.
func TestMargin(t *testing.T) {
	assert.Equal(t, 101*time.Millisecond, Margin(time.Second))
	assert.Equal(t, 160*time.Millisecond, Margin(time.Minute))
	assert.Equal(t, 86500*time.Millisecond, Margin(24*time.Hour))
}

// TestPlanWindows: the enforced windows of a plan, widened, in order; a
// zero or negative limit is not enforced.
func TestPlanWindows(t *testing.T) {
	assert.Equal(t, []Window{
		{Limit: 17, Per: 1101 * time.Millisecond, Base: time.Second},
		{Limit: 1000, Per: 60160 * time.Millisecond, Base: time.Minute},
		{Limit: 50000, Per: 24*time.Hour + 86500*time.Millisecond, Base: 24 * time.Hour},
	}, PlanWindows(17, 1000, 50000))
	assert.Equal(t, []Window{{Limit: 30, Per: 60160 * time.Millisecond, Base: time.Minute}}, PlanWindows(0, 30, -1))
	assert.Empty(t, PlanWindows(0, 0, 0))
}
