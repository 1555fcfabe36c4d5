package topology

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"go.uber.org/zap"
)

// ImageRepo is the repository of the forwarder images; the tag is the first 12 hex
// digits of the binary's SHA-256, so each chaosd build gets its own image, built once.
const ImageRepo = "chaosd-forward"

// ErrNotStatic marks a binary the forwarder image cannot run: FROM scratch has no
// dynamic loader and no libc.
var ErrNotStatic = errors.New("the forwarder needs a static chaosd (CGO_ENABLED=0, as make build does)")

const forwarderDockerfile = `FROM scratch
COPY chaosd /chaosd
ENTRYPOINT ["/chaosd", "forward"]
`

// CheckStatic checks that path is a statically linked ELF executable (no PT_INTERP
// program header), which is what a FROM-scratch image can run.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w; %s is not a Linux ELF executable: %w", ErrNotStatic, path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%w; %s is an ELF %s, not an executable", ErrNotStatic, path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			return fmt.Errorf("%w; %s is dynamically linked (interpreter %s): build it with `make build` or pass a static one",
				ErrNotStatic, path, strings.TrimRight(string(interp), "\x00"))
		}
	}
	return nil
}

// imageTag is the forwarder image's tag for the binary at path.
func imageTag(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("forwarder binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("forwarder binary: read %s: %w", path, err)
	}
	return ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ensureImage returns the forwarder image of the static binary at path, building it
// unless its tag exists already.
func ensureImage(ctx context.Context, api imageBuilder, path string, log *zap.Logger) (string, error) {
	if err := CheckStatic(path); err != nil {
		return "", err
	}
	tag, err := imageTag(path)
	if err != nil {
		return "", err
	}
	_, err = api.ImageInspect(ctx, tag)
	if err == nil {
		return tag, nil
	}
	if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("docker: inspect image %s: %w", tag, err)
	}
	log.Info("building the forwarder image", zap.String("image", tag), zap.String("binary", path))
	if err := buildImage(ctx, api, tag, path); err != nil {
		return "", fmt.Errorf("docker: build image %s: %w", tag, err)
	}
	return tag, nil
}

// buildImage builds tag from a tar context holding the Dockerfile and the binary,
// streamed to the daemon (the classic builder: no BuildKit session, no registry).
func buildImage(ctx context.Context, api imageBuilder, tag, path string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, path)) }()
	defer pr.Close()
	resp, err := api.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Labels:      map[string]string{LabelForwarder + ".image": "true"},
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readBuildOutput(resp.Body)
}

// writeContext writes the build context: the Dockerfile and the binary as chaosd.
func writeContext(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(forwarderDockerfile)), ModTime: st.ModTime()}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, forwarderDockerfile); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "chaosd", Mode: 0o755, Size: st.Size(), ModTime: st.ModTime()}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	return tw.Close()
}

// readBuildOutput reads the daemon's JSON message stream to its end and returns the
// build's error, if any, with the last lines of output.
func readBuildOutput(r io.Reader) error {
	dec := json.NewDecoder(r)
	var tail []string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if s := strings.TrimSpace(m.Stream); s != "" {
			tail = append(tail, s)
			if len(tail) > 10 {
				tail = tail[1:]
			}
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			m.Error = m.ErrorDetail.Message
		}
		if m.Error != "" {
			return fmt.Errorf("%s (output: %s)", m.Error, strings.Join(tail, " | "))
		}
	}
}

// ImagePruner is what PruneImages needs.
type ImagePruner interface {
	ImageList(ctx context.Context, opts image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, id string, opts image.RemoveOptions) ([]image.DeleteResponse, error)
}

var _ ImagePruner = (*client.Client)(nil)

// PruneImages removes the forwarder images (label chaosd.forwarder.image=true) of
// other chaosd binaries than the one at keep ("" = this process's own): each chaosd
// build makes its own small image, and nothing else removes the old ones. An image
// still used by a container (a live forwarder of another chaosd) is left alone. It
// returns the tags removed.
func PruneImages(ctx context.Context, api ImagePruner, keep string) ([]string, error) {
	if keep == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("forwarder images: find chaosd's executable: %w", err)
		}
		keep = exe
	}
	current, err := imageTag(keep)
	if err != nil {
		return nil, err
	}
	imgs, err := api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelForwarder+".image=true"))})
	if err != nil {
		return nil, fmt.Errorf("docker: list forwarder images: %w", err)
	}
	var removed []string
	for _, im := range imgs {
		if slices.Contains(im.RepoTags, current) || im.Containers > 0 {
			continue
		}
		if _, err := api.ImageRemove(ctx, im.ID, image.RemoveOptions{PruneChildren: true}); err != nil {
			if errdefs.IsConflict(err) {
				continue // in use since the listing
			}
			return removed, fmt.Errorf("docker: remove forwarder image %s: %w", strings.Join(im.RepoTags, ","), err)
		}
		removed = append(removed, im.RepoTags...)
	}
	return removed, nil
}
