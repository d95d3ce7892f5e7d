package storage

import (
	"errors"
	"fmt"
)

// Code classifies a storage error; the server maps each to an HTTP status.
type Code int

// The storage error codes.
const (
	CodeNotFound Code = iota + 1
	CodeAlreadyExists
	CodeConflict
	CodeCompacted
	CodeFutureRevision
	CodeTooManyWatchers
	CodeInvalidObject
	// CodeUnavailable: the backend could not be reached or did not answer
	// in time; nothing is known to have been written.
	CodeUnavailable
	// CodeCorrupt: a stored value does not decode. Key names it.
	CodeCorrupt
)

// Error is the error every storage operation returns for an expected failure.
type Error struct {
	Code Code
	Key  string
	// Revision is the requested revision (Compacted, FutureRevision).
	Revision int64
	// Current is the store's compacted revision (Compacted) or current
	// revision (FutureRevision).
	Current int64
	Msg     string
}

func (e *Error) Error() string {
	switch e.Code {
	case CodeNotFound:
		return fmt.Sprintf("storage: key %q not found", e.Key)
	case CodeAlreadyExists:
		return fmt.Sprintf("storage: key %q already exists", e.Key)
	case CodeConflict:
		return fmt.Sprintf("storage: key %q was modified (precondition failed)", e.Key)
	case CodeCompacted:
		return fmt.Sprintf("storage: revision %d has been compacted (compacted revision %d)", e.Revision, e.Current)
	case CodeFutureRevision:
		return fmt.Sprintf("storage: revision %d is in the future (current revision %d)", e.Revision, e.Current)
	case CodeTooManyWatchers:
		return "storage: too many watchers"
	case CodeUnavailable:
		return "storage: backend unavailable: " + e.Msg
	case CodeCorrupt:
		return fmt.Sprintf("storage: stored object at %q does not decode: %s", e.Key, e.Msg)
	}
	return "storage: " + e.Msg
}

func hasCode(err error, c Code) bool {
	var se *Error
	return errors.As(err, &se) && se.Code == c
}

// IsNotFound reports a missing key.
func IsNotFound(err error) bool { return hasCode(err, CodeNotFound) }

// IsAlreadyExists reports a create of an existing key.
func IsAlreadyExists(err error) bool { return hasCode(err, CodeAlreadyExists) }

// IsConflict reports a failed revision precondition.
func IsConflict(err error) bool { return hasCode(err, CodeConflict) }

// IsCompacted reports a revision older than the compacted one.
func IsCompacted(err error) bool { return hasCode(err, CodeCompacted) }

// IsFutureRevision reports a revision newer than the current one.
func IsFutureRevision(err error) bool { return hasCode(err, CodeFutureRevision) }

// IsTooManyWatchers reports that the watcher limit was reached.
func IsTooManyWatchers(err error) bool { return hasCode(err, CodeTooManyWatchers) }

// IsUnavailable reports that the backend could not be reached.
func IsUnavailable(err error) bool { return hasCode(err, CodeUnavailable) }

// IsCorrupt reports a stored value that does not decode.
func IsCorrupt(err error) bool { return hasCode(err, CodeCorrupt) }
