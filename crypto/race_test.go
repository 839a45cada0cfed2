//go:build race

package crypto

// The race detector's instrumentation allocates, so allocation counts are not checked under it.
func init() { raceEnabled = true }
