// Package dirlock gives one process at a time the ownership of a ledger's data
// directory: an exclusive flock(2) on <dir>/LOCK, held for the life of the
// process (the kernel releases it when the process dies, so a crash never
// leaves a stale lock), with the holder's pid and command written in the file
// so that a refused opener can say who holds it.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FileName is the lock file inside the data directory.
const FileName = "LOCK"

// Lock is a held lock on a data directory.
type Lock struct {
	f    *os.File
	path string
}

// HeldError is returned when another process holds the directory.
type HeldError struct {
	Dir    string
	PID    int    // 0 when the holder did not write it
	Holder string // what the holder said it is (its command), if anything
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
		if e.Holder != "" {
			who += " (" + e.Holder + ")"
		}
	}
	return fmt.Sprintf("data directory %s is in use by %s; only one process may open a ledger's store at a time", e.Dir, who)
}

// Acquire takes the exclusive lock on dir (created if missing), writing
// "pid what" into the lock file. It fails at once with a *HeldError when
// another process holds it.
func Acquire(dir, what string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			he := &HeldError{Dir: dir}
			b := make([]byte, 512)
			n, _ := f.ReadAt(b, 0)
			pid, rest, _ := strings.Cut(strings.TrimSpace(string(b[:n])), " ")
			he.PID, _ = strconv.Atoi(pid)
			he.Holder = rest
			return nil, he
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+what+"\n"), 0)
		_ = f.Sync()
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives the directory up. The lock file stays (removing it would
// race with the next opener).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
