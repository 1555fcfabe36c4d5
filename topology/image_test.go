package topology

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeELF writes a minimal 64-bit ELF executable, dynamically linked when interp is
// set (a PT_INTERP program header naming it), and returns its path.
func writeELF(t *testing.T, interp string) string {
	t.Helper()
	var b bytes.Buffer
	h := elf.Header64{
		Ident:     [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)},
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Phoff:     64,
		Ehsize:    64,
		Phentsize: 56,
		Shentsize: 64,
	}
	if interp != "" {
		h.Phnum = 1
	}
	must(t, binary.Write(&b, binary.LittleEndian, h))
	if interp != "" {
		n := uint64(len(interp) + 1)
		must(t, binary.Write(&b, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 64 + 56, Filesz: n, Memsz: n, Align: 1}))
		b.WriteString(interp + "\x00")
	}
	path := filepath.Join(t.TempDir(), "chaosd")
	must(t, os.WriteFile(path, b.Bytes(), 0o755))
	return path
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCheckStatic(t *testing.T) {
	if err := CheckStatic(writeELF(t, "")); err != nil {
		t.Errorf("static ELF: %v", err)
	}
	dyn := writeELF(t, "/lib64/ld-linux-x86-64.so.2")
	err := CheckStatic(dyn)
	if !errors.Is(err, ErrNotStatic) || !strings.Contains(err.Error(), "CGO_ENABLED=0, as make build does") ||
		!strings.Contains(err.Error(), "dynamically linked (interpreter /lib64/ld-linux-x86-64.so.2)") {
		t.Errorf("dynamic ELF: %v", err)
	}
	script := filepath.Join(t.TempDir(), "chaosd")
	must(t, os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755))
	if err := CheckStatic(script); !errors.Is(err, ErrNotStatic) || !strings.Contains(err.Error(), "not a Linux ELF executable") {
		t.Errorf("script: %v", err)
	}
	if err := CheckStatic(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNotStatic) {
		t.Errorf("missing file: %v", err)
	}
}

func TestImageTagFollowsTheBinary(t *testing.T) {
	a, b := writeELF(t, ""), writeELF(t, "/x")
	ta, err := imageTag(a)
	must(t, err)
	tb, err := imageTag(b)
	must(t, err)
	if !strings.HasPrefix(ta, "chaosd-forward:") || len(ta) != len("chaosd-forward:")+12 || ta == tb {
		t.Errorf("tags %q, %q", ta, tb)
	}
}

// tarFiles reads a build context and checks the Dockerfile; it returns the names.
func tarFiles(t *testing.T, r io.Reader) []string {
	t.Helper()
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("build context: %v", err)
		}
		names = append(names, h.Name)
		body, _ := io.ReadAll(tr)
		switch h.Name {
		case "Dockerfile":
			if string(body) != forwarderDockerfile {
				t.Errorf("Dockerfile = %q", body)
			}
		case "chaosd":
			if h.Mode&0o111 == 0 {
				t.Errorf("chaosd mode %o: not executable", h.Mode)
			}
			if !bytes.HasPrefix(body, []byte("\x7fELF")) {
				t.Errorf("chaosd is not the ELF binary")
			}
		}
	}
}

func TestReadBuildOutput(t *testing.T) {
	ok := `{"stream":"Step 1/3 : FROM scratch\n"}` + "\n" + `{"stream":"Successfully tagged chaosd-forward:x\n"}`
	if err := readBuildOutput(strings.NewReader(ok)); err != nil {
		t.Errorf("ok stream: %v", err)
	}
	bad := `{"stream":"Step 2/3 : COPY chaosd /chaosd\n"}{"errorDetail":{"message":"COPY failed: no such file"},"error":"COPY failed"}`
	err := readBuildOutput(strings.NewReader(bad))
	if err == nil || !strings.Contains(err.Error(), "COPY failed: no such file") || !strings.Contains(err.Error(), "Step 2/3") {
		t.Errorf("failed build: %v", err)
	}
}
