//go:build !windows

package main

// runAsService reports whether the process ran as a service of the platform's service
// manager (only Windows has a protocol for that; elsewhere `oakley up` is the service).
func runAsService() bool { return false }
