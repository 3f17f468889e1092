package redislimit_test

import (
	"context"
	"fmt"
	"os"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/redis/go-redis/v9"
)

// One rate limit for every replica of a service that shares one API key.
// The example is compiled but not run (it has no output): it needs a Redis
// server, and a call to Deepvue.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()
	lim, err := redislimit.New(rdb, deepvue.PlanGrowth, redislimit.WithKeyPrefix("deepvue:limit:prod:"))
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := deepvue.NewClient(os.Getenv("DEEPVUE_CLIENT_ID"), os.Getenv("DEEPVUE_CLIENT_SECRET"),
		deepvue.WithRateLimiter(lim))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	otp, err := client.GenerateOTP(context.Background(), "234123412346", deepvue.ConsentYes, "Loan onboarding KYC")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("reference", otp.ReferenceID)
}

// The keys a limiter uses, one per window of the plan. New does not touch
// Redis, so this example runs without a Redis server.
func ExampleLimiter_Keys() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()
	lim, err := redislimit.New(rdb, deepvue.PlanGrowth, redislimit.WithKeyPrefix("deepvue:limit:prod:"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range lim.Keys() {
		fmt.Println(k)
	}
	// Output:
	// {deepvue:limit:prod:}1d
	// {deepvue:limit:prod:}replicas
	// {deepvue:limit:prod:}epoch
}
