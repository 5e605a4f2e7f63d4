package ratelimit

// CommandCalls lets the package's external tests count commands as its
// internal ones do.
var CommandCalls = commandCalls

// WaitFor lets the package's external tests poll as its internal ones do.
var WaitFor = waitFor
