// Package rollout owns the rollout state: which mode each route runs in
// right now, the canary share and who is in it, and the emergency kill
// switch.
//
// The live State is shared by every replica through a Store (Redis, or
// memory for a single process), pushed on change and re-read periodically;
// a local override file is layered over it; the policy file is the base. A
// View merges the layers and resolves a route's mode with the precedence
// kill switch > override file > live state > policy file; the kill switch
// in force is the stronger of the override file's and the live one, so no
// layer can weaken an emergency stop. Every change is audited with who,
// when, why, before and after.
//
// It must not score requests or answer Envoy; extauthz asks it which mode
// applies and whether a client is in the canary.
package rollout
