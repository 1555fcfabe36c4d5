package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The agent finds a container's processes by the last element of their cgroup path,
// cgroupfs's .../pod<uid>/<id> and systemd's cri-containerd-<id>.scope alike, and no
// other container's.
func TestContainerPIDs(t *testing.T) {
	proc := t.TempDir()
	id := "3f2a9c0d1e4b5a6978877665544332211"
	for pid, cg := range map[string]string{
		"10":  "12:memory:/kubepods/besteffort/pod1234/" + id + "\n11:cpu:/kubepods/besteffort/pod1234/" + id + "\n",
		"11":  "0::/kubepods.slice/kubepods-pod1234.slice/cri-containerd-" + id + ".scope\n",
		"12":  "12:memory:/kubepods/besteffort/pod1234/ffff" + id[4:] + "\n",
		"13":  "12:memory:/docker/" + id + "x\n",
		"abc": "12:memory:/kubepods/besteffort/pod1234/" + id + "\n",
	} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := containerPIDs(proc, id)
	if err != nil || !reflect.DeepEqual(pids, []int{10, 11}) {
		t.Errorf("pids %v (%v), want [10 11]", pids, err)
	}
}
