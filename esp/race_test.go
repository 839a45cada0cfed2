//go:build race

package esp

// The race detector's instrumentation allocates, so allocation counts are not checked under it.
func init() { raceEnabled = true }
