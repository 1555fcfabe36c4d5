package cli

import (
	"context"
	"os/signal"
	"syscall"
)

const probePodDescription = `
Wait for SIGTERM or SIGINT, then exit 0. This is the command of the probe pod that
chaosd creates beside a pod it partitions on Kubernetes: chaosd runs
"chaosd healthcheck tcp://POD-IP:PORT" inside it (pods/exec) to confirm that the
NetworkPolicy cuts the pod off, and again to confirm the heal, then deletes it.`

func runProbePod(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "probe-pod", "", probePodDescription)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	untilTerminated(ctx)
	return nil
}

// untilTerminated returns on SIGTERM or SIGINT (or ctx's end): a pod's whole life
// (probe-pod, agent serve).
func untilTerminated(ctx context.Context) {
	ctx, stop := signalContext(ctx)
	defer stop()
	<-ctx.Done()
}

// signalContext ends with ctx or on SIGTERM or SIGINT.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
}
