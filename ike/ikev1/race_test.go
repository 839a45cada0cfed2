//go:build race

package ikev1

// The race detector's instrumentation allocates, so the flood tests do not check the heap.
func init() { raceEnabled = true }
