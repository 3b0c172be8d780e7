package conditions

import (
	"fmt"
	"strconv"
)

// Error is a condition that does not compile. Every error that [NewCompiler],
// [Compiler.Compile] and [Compiler.CompileString] return is an *Error.
type Error struct {
	// Key is the config key path of the condition, such as
	// "routes[2].middleware[0].when" or "conditions.is_api".
	Key string
	// Line is the 1-based line within a multi-line expression, 0 when the
	// expression is one line or the error has no position.
	Line int
	// Column is the 1-based column within the expression (within Line when
	// Line is set), 0 when not applicable.
	Column int
	// Msg says what was wrong and what was expected.
	Msg string
}

// Error renders "key: column N: msg" ("key: line L, column N: msg" for a
// multi-line expression, "key: msg" without a position).
func (e *Error) Error() string {
	switch {
	case e.Column > 0 && e.Line > 0:
		return e.Key + ": line " + strconv.Itoa(e.Line) + ", column " + strconv.Itoa(e.Column) + ": " + e.Msg
	case e.Column > 0:
		return e.Key + ": column " + strconv.Itoa(e.Column) + ": " + e.Msg
	}
	return e.Key + ": " + e.Msg
}

func errorf(key string, format string, args ...any) *Error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// KeyPath returns Key, so that a configuration loader places the error at
// the file and line of the condition.
func (e *Error) KeyPath() string { return e.Key }
