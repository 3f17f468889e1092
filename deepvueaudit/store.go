package deepvueaudit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// CheckpointStore keeps the signed checkpoints outside the database. It is
// written only through Create, which never replaces what a name holds: on
// storage that enforces it (S3 Object Lock in compliance mode, a WORM
// volume, an append-only bucket policy), nobody with the database's or the
// application's credentials can rewrite a checkpoint. Names are
// slash-separated paths of letters, digits, '.', '-' and '_'.
type CheckpointStore interface {
	// Create stores data under name. If name exists it stores nothing and
	// returns an error matching fs.ErrExist.
	Create(ctx context.Context, name string, data []byte) error
	// Read returns what name holds (an error matching fs.ErrNotExist if
	// nothing).
	Read(ctx context.Context, name string) ([]byte, error)
	// List returns the names in the folder prefix (which ends in "/"), in
	// any order, without the prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// DirStore is a CheckpointStore in a directory (for a mount of WORM storage
// such as S3 Object Lock through a file-system gateway): DirStore(dir). It
// never overwrites a file: Create writes a temporary file, syncs it and
// hard-links it to its name, which fails if the name exists; the files are
// read-only (mode 0444).
type DirStore string

var storeName = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

func (d DirStore) path(name string) (string, error) {
	if !storeName.MatchString(name) || strings.Contains(name, "..") {
		return "", fmt.Errorf("deepvueaudit: DirStore: bad name %q", name)
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// Create writes data to the file name (see DirStore), creating its folders.
func (d DirStore) Create(ctx context.Context, name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("deepvueaudit: DirStore: %w", err)
	}
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("deepvueaudit: DirStore: %s: %w", name, fs.ErrExist)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := p + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("deepvueaudit: DirStore: %w", err)
	}
	defer os.Remove(tmp)
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("deepvueaudit: DirStore: writing %s: %w", name, err)
	}
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("deepvueaudit: DirStore: %s: %w", name, fs.ErrExist)
		}
		return fmt.Errorf("deepvueaudit: DirStore: %w", err)
	}
	if df, err := os.Open(dir); err == nil { // make the new name durable
		_ = df.Sync()
		df.Close()
	}
	return nil
}

// Read returns the file name's content.
func (d DirStore) Read(ctx context.Context, name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: DirStore: %w", err)
	}
	return b, nil
}

// List returns the files in the folder prefix (temporary files left by an
// interrupted Create excluded).
func (d DirStore) List(ctx context.Context, prefix string) ([]string, error) {
	p, err := d.path(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: DirStore: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
