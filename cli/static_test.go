package cli

import (
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestStaticServesHealthAndFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, method, path string
		want              int
	}{
		{"", "GET", "/minio/health/live", 200},
		{"", "GET", "/health", 200},
		{"", "GET", "/a.txt", 404},
		{dir, "GET", "/a.txt", 200},
		{dir, "POST", "/a.txt", 405},
	} {
		rec := httptest.NewRecorder()
		staticHandler(tc.dir).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("%s %s (dir %q) = %d, want %d", tc.method, tc.path, tc.dir, rec.Code, tc.want)
		}
	}
	if code := Main(t.Context(), []string{"static", "--listen", "bad:addr:x"}, IO{Stdout: io.Discard, Stderr: io.Discard}); code == ExitOK {
		t.Fatal("a bad --listen must fail")
	}
}
