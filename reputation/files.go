package reputation

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"
)

// content is what a group of files (a set's, or the ASN database) held
// when read together, and a digest that tells whether it changed.
type content struct {
	data [][]byte
	sum  [sha256.Size]byte
}

// readContent reads every path, each at most limit bytes.
func readContent(paths []string, limit int64) (content, error) {
	c := content{data: make([][]byte, len(paths))}
	h := sha256.New()
	for i, p := range paths {
		data, err := readFile(p, limit)
		if err != nil {
			return content{}, err
		}
		c.data[i] = data
		// Each file's length goes in first, so that bytes moving from one
		// file to the next change the digest.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(data)))
		h.Write(n[:])
		h.Write(data)
	}
	h.Sum(c.sum[:0])
	return c, nil
}

func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return data, nil
}

// settled re-reads paths every wait until two reads in a row agree, and
// returns that content. A writer only adds bytes between its truncate and
// its last write, so content read twice a settle period apart saw no write
// in between: it is whole, unless the writer paused for longer than that.
func settled(ctx context.Context, paths []string, limit int64, wait time.Duration, c content) (content, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return content{}, context.Cause(ctx)
		case <-timer.C:
		}
		next, err := readContent(paths, limit)
		if err != nil {
			return content{}, err
		}
		if next.sum == c.sum {
			return c, nil
		}
		c = next
		timer.Reset(wait)
	}
}
