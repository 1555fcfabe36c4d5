package topology

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
)

type fakePruner struct {
	images  []image.Summary
	removed []string
	inUse   string // an image id whose removal conflicts
}

func (f *fakePruner) ImageList(context.Context, image.ListOptions) ([]image.Summary, error) {
	return f.images, nil
}

func (f *fakePruner) ImageRemove(_ context.Context, id string, _ image.RemoveOptions) ([]image.DeleteResponse, error) {
	if id == f.inUse {
		return nil, errdefs.Conflict(os.ErrExist)
	}
	f.removed = append(f.removed, id)
	return nil, nil
}

func TestPruneImagesKeepsTheCurrentAndTheUsedOnes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "chaosd")
	if err := os.WriteFile(bin, []byte("a chaosd build"), 0o755); err != nil {
		t.Fatal(err)
	}
	current, err := imageTag(bin)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePruner{inUse: "sha256:racy", images: []image.Summary{
		{ID: "sha256:cur", RepoTags: []string{current}},
		{ID: "sha256:old", RepoTags: []string{ImageRepo + ":000000000001"}},
		{ID: "sha256:used", RepoTags: []string{ImageRepo + ":000000000002"}, Containers: 1},
		{ID: "sha256:racy", RepoTags: []string{ImageRepo + ":000000000003"}},
	}}
	got, err := PruneImages(context.Background(), f, bin)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.removed, []string{"sha256:old"}) || !slices.Equal(got, []string{ImageRepo + ":000000000001"}) {
		t.Errorf("removed %v (tags %v), want only the old unused image", f.removed, got)
	}
}
