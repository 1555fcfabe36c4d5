package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

const staticDescription = `
Serve a directory over HTTP (GET and HEAD only), plus GET /health and
/minio/health/live answering 200. It stands in for a small infrastructure service
that the pods only need to find running, such as the minio of today's mesh harness
(deploy/docker-compose.mesh-current.yml): chaosd must tell it from a pod and never
fault it. With no --dir it serves nothing but the health routes.`

func runStatic(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "static", "[--listen ADDR] [--dir DIR]", staticDescription)
	listen := fs.String("listen", ":9000", "address to listen on")
	dir := fs.String("dir", "", "directory to serve (default: none, only the health routes)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: staticHandler(*dir), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(io.Stderr, "chaosd static: serving %s on %s\n", orNone(*dir), ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func staticHandler(dir string) http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /health", ok)
	mux.HandleFunc("GET /minio/health/live", ok)
	if dir != "" {
		mux.Handle("GET /", http.FileServer(http.Dir(dir)))
	}
	return mux
}

func orNone(dir string) string {
	if dir == "" {
		return "the health routes only"
	}
	return dir
}
