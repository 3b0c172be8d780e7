package caching

import (
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// The shared tier stores entries and Vary records in this binary form:
//
//	"SY" version kind
//	kind 1 (entry):  key urlKey path varyKey status requestTime responseTime
//	                 ageValue upstreamCS header body
//	kind 2 (record): urlKey path nonce fields
//
// Strings and byte slices are a uvarint length and the bytes; times are
// varint Unix nanoseconds; a string list is a uvarint count and the strings; a
// header is a uvarint count of (name, string list). Derived fields are not
// stored: a decoded entry is finished again by the reader.

const (
	codecVersion = 1
	kindEntry    = 1
	kindRecord   = 2
	// codecMaxList bounds list lengths so that a corrupt value cannot make
	// the decoder allocate without limit.
	codecMaxList = 1 << 16
)

var errCodec = errors.New("caching: malformed stored value")

// encodeEntry encodes a finished entry.
func encodeEntry(e *entry) []byte {
	n := 64 + len(e.key) + len(e.urlKey) + len(e.path) + len(e.varyKey) + len(e.body)
	for _, f := range e.fields {
		n += len(f.key) + 4
		for _, v := range f.vals {
			n += len(v) + 4
		}
	}
	b := make([]byte, 0, n)
	b = append(b, 'S', 'Y', codecVersion, kindEntry)
	b = appendStr(b, e.key)
	b = appendStr(b, e.urlKey)
	b = appendStr(b, e.path)
	b = appendStr(b, e.varyKey)
	b = binary.AppendUvarint(b, uint64(e.status))
	b = binary.AppendVarint(b, e.requestTime.UnixNano())
	b = binary.AppendVarint(b, e.responseTime.UnixNano())
	b = binary.AppendVarint(b, e.ageValue)
	b = appendList(b, e.upstreamCS)
	b = binary.AppendUvarint(b, uint64(len(e.fields)))
	for _, f := range e.fields {
		b = appendStr(b, f.key)
		b = appendList(b, f.vals)
	}
	b = binary.AppendUvarint(b, uint64(len(e.body)))
	return append(b, e.body...)
}

func encodeRecord(r *varyRecord) []byte {
	b := make([]byte, 0, 32+len(r.urlKey)+len(r.path)+16*len(r.fields))
	b = append(b, 'S', 'Y', codecVersion, kindRecord)
	b = appendStr(b, r.urlKey)
	b = appendStr(b, r.path)
	b = binary.AppendUvarint(b, r.nonce)
	return appendList(b, r.fields)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendStr(b, s)
	}
	return b
}

// decoded is a decoded stored value: an unfinished entry or a record.
type decoded struct {
	e   *entry
	rec *varyRecord
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCodec
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCodec
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errCodec
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) list() []string {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > codecMaxList || n > uint64(len(r.b)) {
		r.err = errCodec
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

// decodeValue decodes a value written by encodeEntry or encodeRecord. The
// returned entry is not finished: its fields are in header.
func decodeValue(b []byte) (decoded, error) {
	if len(b) < 4 || b[0] != 'S' || b[1] != 'Y' || b[2] != codecVersion {
		return decoded{}, errCodec
	}
	r := &reader{b: b[4:]}
	switch b[3] {
	case kindEntry:
		e := &entry{}
		e.key = r.str()
		e.urlKey = r.str()
		e.path = r.str()
		e.varyKey = r.str()
		status := r.uvarint()
		e.requestTime = time.Unix(0, r.varint())
		e.responseTime = time.Unix(0, r.varint())
		e.ageValue = r.varint()
		e.upstreamCS = r.list()
		nh := r.uvarint()
		if r.err == nil && (nh > codecMaxList || nh > uint64(len(r.b))) {
			r.err = errCodec
		}
		if r.err == nil {
			e.header = make(http.Header, nh)
			for i := uint64(0); i < nh && r.err == nil; i++ {
				k := r.str()
				vs := r.list()
				if k != "" && len(vs) > 0 {
					e.header[k] = vs
				}
			}
		}
		body := r.bytes()
		if r.err != nil {
			return decoded{}, r.err
		}
		if len(r.b) != 0 || status < 100 || status > 999 || e.ageValue < 0 || e.key == "" || e.urlKey == "" {
			return decoded{}, errCodec
		}
		e.status = int(status)
		e.body = body // the value was read into a fresh buffer: no copy needed
		return decoded{e: e}, nil
	case kindRecord:
		rec := &varyRecord{}
		rec.urlKey = r.str()
		rec.path = r.str()
		rec.nonce = r.uvarint()
		rec.fields = r.list()
		if r.err != nil {
			return decoded{}, r.err
		}
		if len(r.b) != 0 || rec.urlKey == "" || len(rec.fields) == 0 {
			return decoded{}, errCodec
		}
		return decoded{rec: rec}, nil
	}
	return decoded{}, errCodec
}
