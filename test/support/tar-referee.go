// tar-referee lists a tar archive the way kk's unpack sees it (kk cmd/kk/pkg/core/util/file.go): Go's archive/tar
// Reader, TypeDir and TypeReg (Go reports the old TypeRegA '\0' as one of those) handled, everything else skipped.
// One JSON line per entry: {"name": <hex of path.Clean(name)>, "type": "file"|"directory", "size", "sha256"}.
// On a read error it prints {"error": "..."} and exits 1. Input: a plain or gzip tar on stdin.
//
// Run: go run tar-referee.go < archive.tar
//
// With arguments `pack DIR`, it writes DIR as kk's `artifact export` does (util.Tar: filepath.Walk, tar.FileInfoHeader,
// names relative to DIR, Go's archive/tar under compress/gzip) to stdout: a .tar.gz whose layers are deflated.
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
)

type entry struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Sha256 string `json:"sha256"`
}

func fail(out *json.Encoder, err error) {
	_ = out.Encode(map[string]string{"error": err.Error()})
	os.Exit(1)
}

func pack(dir string) error {
	gz := gzip.NewWriter(os.Stdout)
	tw := tar.NewWriter(gz)
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "pack" {
		if err := pack(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	out := json.NewEncoder(os.Stdout)
	in := bufio.NewReader(os.Stdin)
	var r io.Reader = in
	if magic, err := in.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(in)
		if err != nil {
			fail(out, err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			fail(out, err)
		}
		var kind string
		switch hdr.Typeflag {
		case tar.TypeDir:
			kind = "directory"
		case tar.TypeReg:
			kind = "file"
		default:
			continue // kk's unpack skips every other type
		}
		name := path.Clean(hdr.Name)
		if kind == "directory" && name == "." {
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, tr)
		if err != nil {
			fail(out, fmt.Errorf("reading %q: %w", hdr.Name, err))
		}
		if err := out.Encode(entry{hex.EncodeToString([]byte(name)), kind, n, hex.EncodeToString(h.Sum(nil))}); err != nil {
			fail(out, err)
		}
	}
}
