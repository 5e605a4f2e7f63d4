package ratelimit

// WaitFor lets the package's external tests poll as its internal ones do.
var WaitFor = waitFor
