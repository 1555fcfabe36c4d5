//go:build e2e && mesh

package e2e

import "testing"

// TestE2EMeshAlone holds the mesh tests that look at every compose project on the host,
// so they need the host to themselves: chaosd doctor --suggest on each mesh target
// (every profile is checked, and another running cluster would fit one of them), and
// the bundled profile pointed at the harness (with a bundled cluster up it would find
// that one and inject into it). scripts/e2e.sh runs it after the other phases, when no
// other cluster is up; the rest of the mesh phases may run beside the bundled one.
func TestE2EMeshAlone(t *testing.T) {
	bootMesh(t, "")
	t.Run("mesh-2026-05/doctor-suggests-the-profile", func(t *testing.T) {
		checkSuggests(t, meshTarget, "bundled ", "mesh-current ")
	})
	t.Run("mesh-2026-05/wrong-profile-injects-nothing", testMeshWrongProfile)
	meshDownTarget(t, meshTarget) // the two harness shapes share project multi-pod
	bootTarget(t, currentTarget, "")
	t.Cleanup(func() { meshDownTarget(t, currentTarget) })
	t.Run("mesh-current/doctor-suggests-the-profile", func(t *testing.T) {
		checkSuggests(t, currentTarget, "bundled ", "mesh-2026-05 ")
	})
}
