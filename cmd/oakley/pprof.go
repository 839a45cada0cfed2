package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on the default mux, served only when asked
	"os"

	"go.uber.org/zap"
)

// startPprof serves Go's profiler when OAKLEY_PPROF names a listen address (e.g.
// 127.0.0.1:6060): CPU and heap profiles of the data plane under load, for performance work.
func startPprof(log *zap.Logger) {
	addr := os.Getenv("OAKLEY_PPROF")
	if addr == "" {
		return
	}
	log.Warn("profiler listening", zap.String("addr", addr))
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			log.Warn("profiler", zap.Error(err))
		}
	}()
}
