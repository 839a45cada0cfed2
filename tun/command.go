//go:build darwin || windows

package tun

import (
	"fmt"
	"os/exec"
	"strings"

	"go.uber.org/zap"
)

// run executes one configuration command (ifconfig/route on macOS, netsh on Windows) and
// returns an error carrying its output when it fails. Commands are logged at debug level.
func run(log *zap.Logger, name string, args ...string) error {
	log.Debug("tun: run", zap.String("cmd", name), zap.Strings("args", args))
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return nil
}
