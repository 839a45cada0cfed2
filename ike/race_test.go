//go:build race

package ike

// The race detector's instrumentation allocates, so heap growth is not checked under it.
func init() { raceEnabled = true }
