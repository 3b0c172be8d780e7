package hotreload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
)

// copyBufs holds the read buffers of Hash.
var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// Tags written for each file's state in [Hash], so that a missing file, an
// unreadable file and an empty file all hash differently.
const (
	hashPresent    = 'P'
	hashMissing    = 'M'
	hashUnreadable = 'U'
)

// Hash returns a content hash of the given files: SHA-256 over each file's
// path and content, in the order given, as lower-case hex. A missing file
// hashes as missing (differently from an empty one), and a file that exists
// but cannot be read hashes as unreadable, so Hash never fails.
//
// Each path is length-prefixed and each content enters as its own SHA-256
// digest, so no two different lists of (path, content) pairs share a hash
// input. Only content counts: a touch or a chmod leaves the hash unchanged,
// which is how the host skips reloads whose content did not change. Symbolic
// links are followed, so a Kubernetes ConfigMap `..data` swap changes the hash
// of the files reached through it.
func Hash(files []string) string {
	outer := sha256.New()
	inner := sha256.New()
	copyBuf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(copyBuf)
	var buf [1 + sha256.Size]byte
	for _, name := range files {
		binary.BigEndian.PutUint64(buf[:8], uint64(len(name)))
		outer.Write(buf[:8])
		io.WriteString(outer, name)
		outer.Write(fileDigest(inner, name, buf[:0], copyBuf[:]))
	}
	return hex.EncodeToString(outer.Sum(buf[:0]))
}

// fileDigest returns a tag byte followed, for a readable file, by the SHA-256
// of its content. The content is streamed, so a file of any size costs no more
// memory than the copy buffer.
func fileDigest(h hash.Hash, name string, dst, copyBuf []byte) []byte {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return append(dst, hashMissing)
		}
		return append(dst, hashUnreadable)
	}
	defer f.Close()
	h.Reset()
	// Hide the file's WriteTo, which would ignore copyBuf and allocate.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, copyBuf); err != nil {
		// A directory or an I/O error part-way.
		return append(dst, hashUnreadable)
	}
	return h.Sum(append(dst, hashPresent))
}
