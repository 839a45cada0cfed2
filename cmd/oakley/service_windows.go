//go:build windows

package main

// A Windows service: `sc.exe create oakley binPath= "C:\oakley\oakley.exe up -c C:\oakley\site.toml"
// start= auto` registers it; the service manager starts the binary with those arguments and
// speaks its protocol (golang.org/x/sys/windows/svc), which this file answers: `up` runs
// until the manager sends Stop or Shutdown.

import (
	"context"
	"os"

	"golang.org/x/sys/windows/svc"
)

func runAsService() bool {
	is, err := svc.IsWindowsService()
	if err != nil || !is {
		return false
	}
	if err := svc.Run("oakley", &service{}); err != nil {
		os.Exit(1)
	}
	return true
}

type service struct{}

// Execute runs `oakley up` with the arguments the service was created with, reporting
// Running once started and Stopped when up returns.
func (s *service) Execute(args []string, reqs <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	upContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	done := make(chan int, 1)
	go func() { done <- run(os.Args[1:], os.Stdout, os.Stderr) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case code := <-done:
			status <- svc.Status{State: svc.Stopped}
			return false, uint32(code)
		case r := <-reqs:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
			}
		}
	}
}
