// tar-referee lists a tar archive the way kk's unpack sees it (kk cmd/kk/pkg/core/util/file.go): Go's archive/tar
// Reader, TypeDir and TypeReg (Go reports the old TypeRegA '\0' as one of those) handled, everything else skipped.
// One JSON line per entry: {"name": <hex of path.Clean(name)>, "type": "file"|"directory", "size", "sha256"}.
// On a read error it prints {"error": "..."} and exits 1. Input: a plain or gzip tar on stdin.
//
// Run: go run tar-referee.go < archive.tar
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

func main() {
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
