package ratelimit

// CommandCalls lets the package's external tests count commands as its
// internal ones do.
var CommandCalls = commandCalls

// WaitFor lets the package's external tests poll as its internal ones do.
var WaitFor = waitFor

// Unfold makes r send each Hit's script as a call of its own, as a
// cluster's store does, so that benchmarks can weigh folding (hitFold).
// Call it before r's first Hit.
func Unfold(r *Redis) { r.batch = newBatcher(r.client, batchOptions{}) }
