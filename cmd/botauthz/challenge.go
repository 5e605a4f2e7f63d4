package main

import (
	"fmt"
	"log/slog"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
)

// clearanceKeys gathers the keys that sign clearance cookies and challenge
// tokens from -clearance-keys and -clearance-keys-file. With none, one is
// made up for this process (ephemeral is true): fine for one replica on a
// laptop, but every restart logs everyone out and replicas reject each
// other's cookies and challenge answers, so visitors behind a load balancer
// are challenged in a loop. It says so loudly, and /readyz says so too.
func clearanceKeys(c *config, log *slog.Logger) (keys []clearance.Key, ephemeral bool, _ error) {
	if c.clearanceKeys != "" {
		k, err := clearance.ParseKeys(c.clearanceKeys)
		if err != nil {
			return nil, false, fmt.Errorf("-clearance-keys: %w", err)
		}
		keys = append(keys, k...)
	}
	if c.clearanceKeysFile != "" {
		k, err := clearance.LoadKeys(c.clearanceKeysFile)
		if err != nil {
			return nil, false, fmt.Errorf("-clearance-keys-file: %w", err)
		}
		keys = append(keys, k...)
	}
	if len(keys) > 0 {
		return keys, false, nil
	}
	k, err := clearance.GenerateKey("ephemeral")
	if err != nil {
		return nil, false, fmt.Errorf("generate a clearance key: %w", err)
	}
	log.Warn(ephemeralKeyWarning)
	return []clearance.Key{k}, true, nil
}

// ephemeralKeyWarning is what a replica without configured clearance keys
// says at start and in /readyz.
const ephemeralKeyWarning = "NO CLEARANCE KEY CONFIGURED: signing with a key made up for this process. " +
	"Other replicas reject its clearance cookies and challenge answers (visitors behind a load balancer are " +
	"challenged in a loop) and a restart ends every clearance. Set BOTAUTHZ_CLEARANCE_KEYS, the same on every " +
	"replica (README: Challenges and clearance)"

// captchaVerifiers builds a verifier for every provider the policy
// configures, reading each secret from the environment variable the policy
// names. A named variable that is empty stops the start: a CAPTCHA that
// cannot verify would only ever refuse people.
func captchaVerifiers(p *policy.Policy, getenv func(string) string) (map[string]provider.Verifier, error) {
	out := map[string]provider.Verifier{}
	for name, pc := range p.Challenge.Providers {
		cfg := provider.Config{
			Provider: name, SiteKey: pc.SiteKey, AppKey: pc.AppKey,
			Hostname: pc.Hostname, Action: pc.Action, MinScore: pc.MinScore,
		}
		for _, env := range []struct {
			name string
			dst  *string
		}{{pc.SecretEnv, &cfg.Secret}, {pc.AppSecretEnv, &cfg.AppSecret}} {
			if env.name == "" {
				continue
			}
			if *env.dst = getenv(env.name); *env.dst == "" {
				return nil, fmt.Errorf("challenge.providers.%s: environment variable %s is empty", name, env.name)
			}
		}
		v, err := provider.New(cfg, nil)
		if err != nil {
			return nil, fmt.Errorf("challenge.providers.%s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}
