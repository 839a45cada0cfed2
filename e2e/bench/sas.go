//go:build linux

package main

// saResult is one SA-count measurement (filled in by measureSAs).
type saResult struct {
	SAs int `json:"installed_child_sas"`
}

func measureSAs(rep *report) error { return nil }

func printSAs(rep *report) {}
