package redislimit

import (
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit/internal/slots"
	"github.com/stretchr/testify/assert"
)

// TestShare: while Redis is down, a replica paces at the plan divided by
// the replicas (rounded down, so the fleet's sum stays within the plan); a
// share below one is one request in a longer window.
func TestShare(t *testing.T) {
	second := time.Second + slots.Margin(time.Second)
	minute := time.Minute + slots.Margin(time.Minute)
	day := 24*time.Hour + slots.Margin(24*time.Hour)
	for _, tt := range []struct {
		plan     deepvue.Plan
		replicas int
		want     []slots.Window
	}{
		{deepvue.Plan{PerSecond: 6}, 3, []slots.Window{{Limit: 2, Per: second}}},
		{deepvue.Plan{PerSecond: 6}, 0, []slots.Window{{Limit: 6, Per: second}}},
		{deepvue.PlanGrowth, 3, []slots.Window{{Limit: 1, Per: second}, {Limit: 166, Per: minute}, {Limit: 6666, Per: day}}},
		{deepvue.PlanStarter, 2, []slots.Window{{Limit: 1, Per: 2 * second}, {Limit: 15, Per: minute}, {Limit: 500, Per: day}}},
		{deepvue.Plan{PerSecond: 2}, 3, []slots.Window{{Limit: 1, Per: (3*second + 1) / 2}}},
	} {
		got := share(planWindows(tt.plan), tt.replicas)
		assert.Equal(t, tt.want, got, "%+v / %d", tt.plan, tt.replicas)
		// The fleet's sum in each window never exceeds the plan.
		for i, w := range got {
			pw := planWindows(tt.plan)[i]
			n := max(tt.replicas, 1)
			assert.LessOrEqual(t, float64(n*w.Limit)/w.Per.Seconds(), float64(pw.Limit)/pw.Per.Seconds()+1e-9)
		}
	}
}

// planWindows is plan's windows as New enforces them.
func planWindows(plan deepvue.Plan) []slots.Window {
	return slots.PlanWindows(plan.PerSecond, plan.PerMinute, plan.PerDay)
}
