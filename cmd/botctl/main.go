// Command botctl shows and changes the live rollout state of botauthz
// through its admin API: the kill switch, per-route and default mode
// overrides, canary percents, and the audit trail of every change.
//
// Usage:
//
//	botctl [-addr URL] [-token T] [-o table|json] [-actor NAME] [-timeout 5s] COMMAND
//
// Run "botctl -h" for the commands, the environment variables and the exit
// codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
