package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged marks a state file that is truncated, overwritten or not a
// bbolt file at all. Errors matching it are *DamageError.
var ErrDamaged = errors.New("state file is damaged")

// DamageError says what is wrong with a state file and what the operator
// can do about it. bbolt maps the file into memory and trusts every page
// number in it: reading past the end of a truncated file is a SIGBUS, and a
// wrong page number a panic or a fault, neither of which a caller could
// handle. Open and Check find such damage first and report it as this.
type DamageError struct {
	Path     string
	Problems []string
}

func (e *DamageError) Error() string {
	if len(e.Problems) == 0 {
		return fmt.Sprintf("state: %s is damaged. %s", e.Path, Remedy(e.Path))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state: %s is damaged: %s", e.Path, e.Problems[0])
	if n := len(e.Problems) - 1; n > 0 {
		fmt.Fprintf(&b, " (and %d more problem", n)
		if n > 1 {
			b.WriteString("s")
		}
		b.WriteString(")")
	}
	b.WriteString(". ")
	b.WriteString(Remedy(e.Path))
	return b.String()
}

func (e *DamageError) Unwrap() error { return ErrDamaged }

// Remedy is what to do about a damaged state file at path, and what the
// second way costs, for error messages and `ticketsync state check`.
func Remedy(path string) string {
	return fmt.Sprintf("Restore a backup (state.backup_dir) with `ticketsync state restore BACKUP --path %s` "+
		"with the daemon stopped, or move the file away to start over with an empty one: mail already read or "+
		"moved stays handled, but the links of old tickets to their Slack threads and to the customers' mail, "+
		"mail still waiting in the outbox and the reply-address key are lost "+
		"(README, \"Backing up the state file\")", path)
}

func damaged(path string, problems ...string) *DamageError {
	return &DamageError{Path: path, Problems: problems}
}

// bbolt's on-disk layout (go.etcd.io/bbolt/internal/common, format version
// 2). Integers are in the machine's byte order, as bbolt writes them.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elementSize    = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize       = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	checksumOffset = 56
	bucketHeader   = 16 // root u64, sequence u64; an inline bucket's page follows it

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	leafIsBucket = 0x01

	noFreelist = ^uint64(0)
	// maxPageSize is the largest page size bbolt looks for when the first
	// meta page is unreadable.
	maxPageSize = 1024 << 14
	// maxProblems bounds a report: the first few say what happened, a
	// thousand say nothing more.
	maxProblems = 50
)

var native = binary.NativeEndian

// boltMeta is the part of a meta page the checks need.
type boltMeta struct {
	pageSize uint32
	root     uint64 // root bucket's page
	freelist uint64
	pgid     uint64 // high-water mark: pages [0, pgid) are in use or free
	txid     uint64
}

func parseMeta(page []byte) (boltMeta, error) {
	if len(page) < pageHeaderSize+metaSize {
		return boltMeta{}, errors.New("too short for a meta page")
	}
	m := page[pageHeaderSize : pageHeaderSize+metaSize]
	if native.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errNoMagic
	}
	if v := native.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt format version %d, not %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:checksumOffset])
	if h.Sum64() != native.Uint64(m[checksumOffset:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	return boltMeta{
		pageSize: native.Uint32(m[8:]),
		root:     native.Uint64(m[16:]),
		freelist: native.Uint64(m[32:]),
		pgid:     native.Uint64(m[40:]),
		txid:     native.Uint64(m[48:]),
	}, nil
}

var errNoMagic = errors.New("no bbolt magic number")

// layout is what the meta page bbolt will use says about the file.
type layout struct {
	size     int64
	pageSize uint64
	meta     boltMeta
	// freelistPages is how many pages the freelist spans (0 without one).
	freelistPages uint64
	// metaProblems are what is wrong with the meta pages when bbolt can
	// still open the file through the other one. A crash while a commit
	// writes its meta page leaves exactly this, and the commit before it
	// intact; so does damage to the newer meta page, which loses the last
	// commit without a trace. Open accepts it, Check reports it.
	metaProblems []string
}

// inspect checks a state file before bbolt maps it: both meta pages read
// with plain reads, the one bbolt will use (the valid one with the higher
// transaction id) checked for sense, the file at least as long as that
// meta's high-water mark, and the freelist page readable and plausible.
// exists is false, with no error, when there is no file at path.
//
// It takes no lock, so a daemon may be writing the file meanwhile. A
// healthy writer never shrinks the file and commits a meta page only after
// the pages it names, so reading the metas before the size cannot see a
// healthy file as short; the freelist page of a meta just read can however
// be reused two commits later, so a failure there is believed only if the
// file did not move on meanwhile.
func inspect(path string) (l layout, exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return layout{}, false, nil
	}
	if err != nil {
		return layout{}, false, fmt.Errorf("state: open %s: %w", path, err)
	}
	defer f.Close()
	for attempt := 0; ; attempt++ {
		l, problem, err := inspectOnce(f)
		if err != nil {
			return layout{}, true, fmt.Errorf("state: read %s: %w", path, err)
		}
		if problem == "" {
			return l, true, nil
		}
		if attempt < 2 && l.meta.txid != 0 {
			if again, _, err := inspectOnce(f); err == nil && again.meta.txid != l.meta.txid {
				continue
			}
		}
		return layout{}, true, damaged(path, problem)
	}
}

// inspectOnce returns a problem for damage and an error only for a failed
// read; l.meta is set whenever a valid meta page was found.
func inspectOnce(f *os.File) (l layout, problem string, err error) {
	st, err := f.Stat()
	if err != nil {
		return l, "", err
	}
	if !st.Mode().IsRegular() {
		return l, "not a regular file", nil
	}
	size := st.Size()
	if size == 0 {
		return l, "the file is empty (0 bytes)", nil
	}
	first := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(first, 0); err != nil && !errors.Is(err, io.EOF) {
		return l, "", err
	}
	if size < int64(len(first)) {
		return l, fmt.Sprintf("the file is %d bytes, too short to be a bbolt database", size), nil
	}
	m0, err0 := parseMeta(first)
	var m1 boltMeta
	err1 := errNoMagic
	var headers [2]error
	if err0 == nil {
		headers[0] = metaHeader(first, 0)
	}
	pageSize := uint64(0)
	if err0 == nil {
		pageSize = uint64(m0.pageSize)
		if m1, err1, headers[1], err = readMetaAt(f, size, int64(pageSize)); err != nil {
			return l, "", err
		}
	} else {
		// bbolt's own search when page 0 is unreadable: page 1 at every
		// power of two from 1 KiB.
		for ps := int64(1024); ps <= maxPageSize && ps < size-1024; ps <<= 1 {
			if m1, err1, headers[1], err = readMetaAt(f, size, ps); err != nil {
				return l, "", err
			}
			if err1 == nil {
				pageSize = uint64(m1.pageSize)
				break
			}
		}
	}
	var m boltMeta
	switch {
	case err0 != nil && err1 != nil:
		if errors.Is(err0, errNoMagic) && errors.Is(err1, errNoMagic) {
			return l, "not a bbolt database (neither meta page has bbolt's magic number)", nil
		}
		return l, fmt.Sprintf("neither meta page is valid (page 0: %v; page 1: %v)", err0, err1), nil
	case err0 == nil && (err1 != nil || m0.txid >= m1.txid):
		m = m0
	default:
		m = m1
	}
	l = layout{size: size, pageSize: pageSize, meta: m}
	for i, err := range []error{err0, err1} {
		if err != nil {
			l.metaProblems = append(l.metaProblems, fmt.Sprintf("meta page %d is invalid (%v); bbolt uses the other one, "+
				"which holds the commit before: after a crash in the middle of a commit that is all, and the daemon's "+
				"next commit rewrites the page, but damage to the newer meta page loses the last commit", i, err))
		} else if headers[i] != nil {
			l.metaProblems = append(l.metaProblems, fmt.Sprintf("meta page %d is damaged: %v", i, headers[i]))
		}
	}
	if m.pageSize < 1024 || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return l, fmt.Sprintf("meta page gives an impossible page size of %d bytes", m.pageSize), nil
	}
	if uint64(m.pageSize) != pageSize {
		return l, fmt.Sprintf("the meta pages disagree on the page size (%d and %d bytes)", pageSize, m.pageSize), nil
	}
	pages := uint64(size) / pageSize
	switch {
	case m.pgid < 3:
		return l, fmt.Sprintf("meta page gives a high-water mark of %d pages, too few for a database", m.pgid), nil
	case m.pgid > pages:
		return l, fmt.Sprintf("the file is %d bytes but its meta page says it holds %d pages of %d bytes (%d bytes): it is truncated",
			size, m.pgid, pageSize, m.pgid*pageSize), nil
	case m.root < 2 || m.root >= m.pgid:
		return l, fmt.Sprintf("meta page names root page %d, outside pages 2 to %d", m.root, m.pgid-1), nil
	}
	if m.freelist == noFreelist {
		// Never written by ticketsync, which keeps bbolt's freelist;
		// bbolt rebuilds it on open by walking the tree.
		return l, "", nil
	}
	if m.freelist < 2 || m.freelist >= m.pgid {
		return l, fmt.Sprintf("meta page names freelist page %d, outside pages 2 to %d", m.freelist, m.pgid-1), nil
	}
	overflow, problem, err := readFreelist(f, m, pageSize)
	if err != nil || problem != "" {
		return l, problem, err
	}
	l.freelistPages = overflow + 1
	return l, "", nil
}

// readMetaAt reads the meta page at off; err is a failed read, bad a meta
// page that is not valid, header a valid one with a damaged page header.
func readMetaAt(f *os.File, size, off int64) (m boltMeta, bad, header, err error) {
	if off+pageHeaderSize+metaSize > size {
		return m, errors.New("beyond the end of the file"), nil, nil
	}
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		return m, nil, nil, err
	}
	if m, bad = parseMeta(buf); bad == nil {
		header = metaHeader(buf, 1)
	}
	return m, bad, header, nil
}

// metaHeader checks the page header of a meta page whose content is valid.
// bbolt's open ignores it, but its Tx.Check panics on a wrong one.
func metaHeader(page []byte, id uint64) error {
	if got := native.Uint64(page); got != id {
		return fmt.Errorf("its page header says page %d", got)
	}
	if flags := native.Uint16(page[8:]); flags != flagMeta {
		return fmt.Errorf("its page header has flags %#x", flags)
	}
	return nil
}

// readFreelist reads and checks the freelist page as bbolt's freelist.Read
// would use it, so that bbolt never follows a count past the page.
func readFreelist(f *os.File, m boltMeta, pageSize uint64) (overflow uint64, problem string, err error) {
	hdr := make([]byte, pageHeaderSize+8)
	if _, err := f.ReadAt(hdr, int64(m.freelist*pageSize)); err != nil {
		return 0, "", err
	}
	id, flags, count := native.Uint64(hdr), native.Uint16(hdr[8:]), uint64(native.Uint16(hdr[10:]))
	overflow = uint64(native.Uint32(hdr[12:]))
	switch {
	case id != m.freelist:
		return 0, fmt.Sprintf("freelist page %d identifies itself as page %d", m.freelist, id), nil
	case flags != flagFreelist:
		return 0, fmt.Sprintf("freelist page %d is not a freelist page (flags %#x)", m.freelist, flags), nil
	case m.freelist+overflow >= m.pgid:
		return 0, fmt.Sprintf("freelist page %d runs past the high-water mark (%d overflow pages)", m.freelist, overflow), nil
	}
	skip := uint64(0)
	if count == 0xFFFF {
		// More than 64k ids: the count is the first element.
		count, skip = native.Uint64(hdr[pageHeaderSize:]), 1
	}
	span := (overflow + 1) * pageSize
	if count > (span-pageHeaderSize)/8-skip {
		return 0, fmt.Sprintf("freelist page %d claims %d free pages, more than it can hold", m.freelist, count), nil
	}
	raw := make([]byte, count*8)
	if _, err := f.ReadAt(raw, int64(m.freelist*pageSize+pageHeaderSize+skip*8)); err != nil {
		return 0, "", err
	}
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = native.Uint64(raw[i*8:])
		if ids[i] < 2 || ids[i] >= m.pgid {
			return 0, fmt.Sprintf("freelist page %d lists page %d, outside pages 2 to %d", m.freelist, ids[i], m.pgid-1), nil
		}
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return 0, fmt.Sprintf("freelist page %d lists page %d twice", m.freelist, ids[i]), nil
		}
	}
	return overflow, "", nil
}

// guard runs fn, which reads a mapped state file, with faults on that
// memory turned into panics (SetPanicOnFault is per goroutine, and bbolt
// reads in the caller's) and panics turned into a DamageError. bbolt
// panics on pages that do not say what it expects; without this, one
// damaged page would crash the daemon with a stack trace instead of a
// message naming the file.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, fmt.Sprintf("bbolt failed reading it (%v)", r))
		}
	}()
	return fn()
}

// openBolt is bolt.Open behind the checks that make it safe: the file's
// layout first, then the open itself under guard.
func openBolt(path string, opts *bolt.Options) (*bolt.DB, error) {
	l, exists, err := inspect(path)
	if err != nil {
		return nil, err
	}
	if exists && l.meta.freelist == noFreelist {
		// bbolt rebuilds a missing freelist by walking the whole tree in a
		// goroutine of its own, where a bad page number is a crash: the
		// tree is checked first, without the lock. ticketsync never writes
		// such a file, so no daemon of ours can be changing it meanwhile.
		if err := verifyStructure(path); err != nil {
			return nil, err
		}
	}
	// A panic inside bolt.Open would leave its file handle, and the lock,
	// open until the process ends; inspect leaves little that could panic.
	var db *bolt.DB
	err = guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum) {
		return nil, damaged(path, err.Error())
	}
	return db, err
}

// verifyStructure is the check Open runs once it holds the lock (no writer
// can change the file under it then): the meta pages and freelist, and
// every page of every bucket read with plain reads and its numbers checked,
// so that bbolt never follows a bad one later, in the middle of the
// daemon's work. It reads the file once and keeps nothing of it: about
// 30 ms for a 50 MB file, against bbolt's own Tx.Check, which maps the
// whole file into the process (50 MB more resident memory) and took up to
// 780 ms on that file from a cold cache. bbolt's check and the values'
// decoding are left to Check.
func verifyStructure(path string) error {
	l, exists, err := inspect(path)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("state: %s vanished while it was being opened", path)
	}
	problems, err := walkFile(path, l)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return damaged(path, problems...)
	}
	return nil
}

// Check runs the full consistency check on a store opened with
// OpenReadOnly, for `ticketsync state check` and `state restore`: the meta
// pages and freelist again, every page of every bucket's tree read and its
// offsets checked against the file (with plain reads: a damaged page
// number can then only be reported, not followed), then bbolt's own
// Tx.Check (page reachability, double references, freed pages in use, key
// order), then every value of ticketsync's buckets decoded as the JSON it
// was written as, which is the only way to notice damage inside a value:
// bbolt keeps no checksums of its data pages. It returns nil when all is
// well and a *DamageError listing the problems otherwise.
//
// bbolt's check maps and reads the whole file, which is why the daemon's
// Open does not run it (a 50 MB file adds 50 MB to the process's resident
// memory and, from a cold cache, most of a second).
func (s *Store) Check() error {
	if !s.readOnly {
		// The plain reads would race the writer's commits.
		return fmt.Errorf("state: check %s: needs a store opened read-only", s.path)
	}
	l, exists, err := inspect(s.path)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("state: check %s: the file is gone", s.path)
	}
	problems, err := walkFile(s.path, l)
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		err := guard(s.path, func() error {
			return s.db.View(func(tx *bolt.Tx) error {
				// bbolt's check starts by asserting both meta pages'
				// headers, so it has nothing to add once one is bad.
				if len(l.metaProblems) == 0 {
					for e := range tx.Check() {
						problems = appendProblem(problems, e.Error())
					}
				}
				if len(problems) == 0 {
					problems = checkValues(tx, problems)
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	if problems = append(l.metaProblems, problems...); len(problems) > 0 {
		return damaged(s.path, problems...)
	}
	return nil
}

func appendProblem(problems []string, p string) []string {
	if len(problems) < maxProblems {
		return append(problems, p)
	}
	if len(problems) == maxProblems {
		return append(problems, "further problems not listed")
	}
	return problems
}

// checkValues decodes every value of ticketsync's own buckets. Buckets it
// does not know (a newer schema read by this build) are left alone.
func checkValues(tx *bolt.Tx, problems []string) []string {
	for _, name := range allBuckets {
		if b := tx.Bucket([]byte(name)); b != nil {
			problems = checkBucketValues(b, name, problems)
		}
	}
	return problems
}

func checkBucketValues(b *bolt.Bucket, where string, problems []string) []string {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		switch {
		case v == nil:
			if sub := b.Bucket(k); sub != nil {
				problems = checkBucketValues(sub, where+"/"+string(clip(k)), problems)
			}
		case where == bucketMeta && bytes.Equal(k, keyReplyKey):
			// The one value that is raw bytes.
		case !json.Valid(v):
			problems = appendProblem(problems, fmt.Sprintf("bucket %s: the value of %q is not the JSON it was written as", where, clip(k)))
		}
	}
	return problems
}

// clip shortens a key for a message; keys are Message-IDs and addresses,
// which can be long.
func clip(k []byte) []byte {
	if len(k) > 80 {
		return append(k[:77:77], "..."...)
	}
	return k
}

// walker reads every page of every bucket's tree with plain reads and
// checks each number bbolt would follow (page ids, overflow counts, element
// offsets) before bbolt follows it through its memory map, where a wrong
// one is a fault or a panic in a goroutine of bbolt's that nothing can
// recover. It also stops at a page reached twice, which would send bbolt's
// own check round in circles.
type walker struct {
	f        *os.File
	pageSize uint64
	hwm      uint64
	seen     []bool
	problems []string
	// buf holds the page being read. A page is done with before the
	// pages below it are read, so one buffer serves the whole walk.
	buf []byte
}

// walkFile returns the structural problems of the file whose layout
// inspect returned, and an error only when reading fails.
func walkFile(path string, l layout) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("state: check %s: %w", path, err)
	}
	defer f.Close()
	w := &walker{f: f, pageSize: l.pageSize, hwm: l.meta.pgid, seen: make([]bool, l.meta.pgid)}
	w.seen[0], w.seen[1] = true, true
	for i := range l.freelistPages {
		w.seen[l.meta.freelist+i] = true
	}
	if err := w.tree(l.meta.root, ""); err != nil {
		return nil, fmt.Errorf("state: check %s: %w", path, err)
	}
	return w.problems, nil
}

func (w *walker) problem(where string, format string, args ...any) {
	label := "the root bucket"
	if where != "" {
		label = "bucket " + where
	}
	w.problems = appendProblem(w.problems, label+": "+fmt.Sprintf(format, args...))
}

// tree checks page id and everything below it. where is the bucket's
// path, "" for the root bucket.
func (w *walker) tree(id uint64, where string) error {
	if len(w.problems) > maxProblems {
		return nil
	}
	if id < 2 || id >= w.hwm {
		w.problem(where, "page %d is outside pages 2 to %d", id, w.hwm-1)
		return nil
	}
	if uint64(len(w.buf)) < w.pageSize {
		w.buf = make([]byte, w.pageSize)
	}
	page := w.buf[:w.pageSize]
	if _, err := w.f.ReadAt(page, int64(id*w.pageSize)); err != nil {
		return err
	}
	pid, flags, count, overflow := native.Uint64(page), native.Uint16(page[8:]), int(native.Uint16(page[10:])), uint64(native.Uint32(page[12:]))
	switch {
	case pid != id:
		w.problem(where, "page %d identifies itself as page %d", id, pid)
		return nil
	case flags != flagBranch && flags != flagLeaf:
		w.problem(where, "page %d is neither a branch nor a leaf page (flags %#x)", id, flags)
		return nil
	case id+overflow >= w.hwm:
		w.problem(where, "page %d runs past the high-water mark (%d overflow pages)", id, overflow)
		return nil
	}
	for p := id; p <= id+overflow; p++ {
		if w.seen[p] {
			w.problem(where, "page %d is reached twice", p)
			return nil
		}
	}
	for p := id; p <= id+overflow; p++ {
		w.seen[p] = true
	}
	if overflow > 0 {
		span := (overflow + 1) * w.pageSize
		if uint64(len(w.buf)) < span {
			w.buf = make([]byte, span)
		}
		page = w.buf[:span]
		if _, err := w.f.ReadAt(page, int64(id*w.pageSize)); err != nil {
			return err
		}
	}
	if flags == flagLeaf {
		return w.leaf(page, id, count, where)
	}
	if count == 0 || pageHeaderSize+count*elementSize > len(page) {
		w.problem(where, "branch page %d claims %d elements", id, count)
		return nil
	}
	children := make([]uint64, 0, count)
	for i := range count {
		off := pageHeaderSize + i*elementSize
		pos, ksize := uint64(native.Uint32(page[off:])), uint64(native.Uint32(page[off+4:]))
		if ksize == 0 || uint64(off)+pos+ksize > uint64(len(page)) {
			w.problem(where, "branch page %d: element %d's key lies outside the page", id, i)
			continue
		}
		children = append(children, native.Uint64(page[off+8:]))
	}
	for _, c := range children {
		if err := w.tree(c, where); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks the elements of a leaf page (id 0: a bucket's inline page,
// stored in its parent's value) and the buckets it holds.
func (w *walker) leaf(page []byte, id uint64, count int, where string) error {
	if pageHeaderSize+count*elementSize > len(page) {
		w.problem(where, "leaf page %d claims %d elements, more than fit", id, count)
		return nil
	}
	type sub struct {
		where  string
		root   uint64
		inline []byte
	}
	var subs []sub
	for i := range count {
		off := pageHeaderSize + i*elementSize
		flags := native.Uint32(page[off:])
		pos, ksize, vsize := uint64(native.Uint32(page[off+4:])), uint64(native.Uint32(page[off+8:])), uint64(native.Uint32(page[off+12:]))
		start := uint64(off) + pos
		if ksize == 0 || start+ksize+vsize > uint64(len(page)) {
			w.problem(where, "leaf page %d: element %d lies outside the page", id, i)
			continue
		}
		if flags&leafIsBucket == 0 {
			continue
		}
		name := string(clip(page[start : start+ksize]))
		if where != "" {
			name = where + "/" + name
		}
		val := page[start+ksize : start+ksize+vsize]
		if vsize < bucketHeader {
			w.problem(where, "leaf page %d: bucket %q has a %d-byte header", id, name, vsize)
			continue
		}
		if root := native.Uint64(val); root != 0 {
			subs = append(subs, sub{where: name, root: root})
		} else {
			subs = append(subs, sub{where: name, inline: bytes.Clone(val[bucketHeader:])})
		}
	}
	for _, s := range subs {
		if s.root != 0 {
			if err := w.tree(s.root, s.where); err != nil {
				return err
			}
			continue
		}
		if len(s.inline) < pageHeaderSize {
			w.problem(s.where, "its inline page is %d bytes", len(s.inline))
			continue
		}
		if flags := native.Uint16(s.inline[8:]); flags != flagLeaf {
			w.problem(s.where, "its inline page is not a leaf page (flags %#x)", flags)
			continue
		}
		if err := w.leaf(s.inline, 0, int(native.Uint16(s.inline[10:])), s.where); err != nil {
			return err
		}
	}
	return nil
}
