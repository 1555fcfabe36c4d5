package topology

import (
	"context"
	"io"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Labels topology reads and writes.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	// LabelSkip on a container set to "true" keeps chaosd's faults off it, always.
	LabelSkip = "chaosd.skip"
	// LabelForwarder marks a forwarder container; its value is the compose project.
	LabelForwarder = "chaosd.forwarder"
)

// The narrow slices of the Docker Engine API that topology uses. *client.Client
// satisfies them all; tests use function-field fakes.
type (
	// Reader is what Discover needs.
	Reader interface {
		ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
		ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	}
	imageBuilder interface {
		ImageInspect(ctx context.Context, id string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
		ImageBuild(ctx context.Context, buildContext io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error)
	}
	runner interface {
		ContainerCreate(ctx context.Context, cfg *container.Config, host *container.HostConfig, net *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
		ContainerStart(ctx context.Context, id string, opts container.StartOptions) error
		ContainerRemove(ctx context.Context, id string, opts container.RemoveOptions) error
		ContainerLogs(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error)
	}
	// Remover is what RemoveForwarders needs.
	Remover interface {
		ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
		ContainerRemove(ctx context.Context, id string, opts container.RemoveOptions) error
	}
)

// Docker is every slice together: what a Forwarder and a Resolver act through.
type Docker interface {
	Reader
	imageBuilder
	runner
}

var (
	_ Docker  = (*client.Client)(nil)
	_ Remover = (*client.Client)(nil)
)
