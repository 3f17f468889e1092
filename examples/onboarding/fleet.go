package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/redis/go-redis/v9"
)

// plans are Deepvue's documented plans by the names DEEPVUE_PLAN takes.
var plans = map[string]deepvue.Plan{
	"starter": deepvue.PlanStarter, "business": deepvue.PlanBusiness,
	"growth": deepvue.PlanGrowth, "enterprise": deepvue.PlanEnterprise,
}

// fleetLimiter shares the API key's plan with every replica through the
// Redis at redisURL (REDIS_URL, e.g. redis://localhost:6379/0). planName is
// DEEPVUE_PLAN (starter, business, growth or enterprise; default starter,
// the smallest). The key prefix is derived from the client id, so that each
// API key has its own limit and the id itself is not written to Redis.
func fleetLimiter(redisURL, planName, clientID string, log *slog.Logger) (*redislimit.Limiter, func() error, error) {
	if planName == "" {
		planName = "starter"
	}
	plan, ok := plans[strings.ToLower(planName)]
	if !ok {
		return nil, nil, fmt.Errorf("DEEPVUE_PLAN %q is not one of starter, business, growth, enterprise", planName)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	sum := sha256.Sum256([]byte(clientID))
	lim, err := redislimit.New(rdb, plan, redislimit.WithLogger(log),
		redislimit.WithKeyPrefix("deepvue:limit:"+hex.EncodeToString(sum[:6])+":"))
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return lim, rdb.Close, nil
}
