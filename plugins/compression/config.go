package compression

import (
	"fmt"
	"slices"

	"github.com/switchyard/switchyard/registry"
)

// Built-in defaults, used when the host supplies no performance.response
// block (a bare registry.Context, as in unit tests).
const (
	defaultLevel   = 6
	defaultMinSize = registry.Size(1024)
)

// defaultEncodings is the server's preference when `encodings` is not set:
// zstd compresses best for its speed, br is next, gzip is understood by all.
var defaultEncodings = []string{"zstd", "br", "gzip"}

// defaultContentTypes are the media types compressed when `content_types` is
// not set: text, JSON, JavaScript, XML, SVG and WebAssembly. Images, video,
// audio, archives and fonts are already compressed and are left alone.
var defaultContentTypes = []string{
	"text/*",
	"application/json",
	"application/*+json",
	"application/javascript",
	"text/javascript",
	"application/xml",
	"application/*+xml",
	"image/svg+xml",
	"application/wasm",
}

// Config is the configuration of one compression instance, the keys under
// `plugins.NAME` next to `type: compression`.
type Config struct {
	// Level is the compression level on gzip's scale, 1 (fastest) to 9
	// (smallest). gzip uses it as is but for 4 and 5 (encoded at
	// klauspost's 5 and 6, for the standard library's ratio: see
	// gzipLevels); zstd maps 1-3 to its fastest level,
	// 4-6 to its default, 7-8 to better and 9 to best; br uses quality
	// 1,2,3,4,4,5,6,7,8 for 1..9. Default:
	// performance.response.compression.level (6).
	Level int `koanf:"level" json:"level"`
	// MinSize is the smallest body that is compressed; smaller bodies are
	// sent as they are. Bytes are held back only until this many have been
	// written or the handler flushes. Default:
	// performance.response.compression.min_size (1KiB).
	MinSize registry.Size `koanf:"min_size" json:"min_size"`
	// Encodings lists the codings the plugin may use, in the server's order of
	// preference (gzip, zstd, br); among the codings a client accepts with
	// equal weight, the earlier one wins. Default: [zstd, br, gzip].
	Encodings []string `koanf:"encodings" json:"encodings"`
	// ContentTypes is the allow list of media types that are compressed:
	// type/subtype, type/* or type/*+suffix, compared without parameters
	// and ignoring case. Default: text/*, application/json,
	// application/*+json, application/javascript, text/javascript,
	// application/xml, application/*+xml, image/svg+xml, application/wasm.
	ContentTypes []string `koanf:"content_types" json:"content_types"`
}

// SetDefaults fills in the defaults, taking level and min_size from the
// host's performance.response.compression section when it sets them (level
// 6 and min_size 1KiB otherwise).
func (c *Config) SetDefaults(host registry.Section) error {
	c.Level, c.MinSize = defaultLevel, defaultMinSize
	var d struct {
		Level   int            `koanf:"level"`
		MinSize *registry.Size `koanf:"min_size"`
	}
	if err := host.Decode(&d); err != nil {
		return err
	}
	if d.Level != 0 {
		c.Level = d.Level
	}
	if d.MinSize != nil {
		c.MinSize = *d.MinSize
	}
	// Fresh slices: decoding a user's list writes into the slice it finds.
	c.Encodings = slices.Clone(defaultEncodings)
	c.ContentTypes = slices.Clone(defaultContentTypes)
	return nil
}

// Validate checks every key. Its error is a registry.DecodeErrors whose
// entries name the offending key, so that the host reports
// plugins.NAME.level and the like.
func (c *Config) Validate() error {
	var errs registry.DecodeErrors
	if c.Level < 1 || c.Level > 9 {
		errs = append(errs, fieldErr("level", "must be between 1 (fastest) and 9 (smallest), got %d", c.Level))
	}
	if c.MinSize < 0 {
		errs = append(errs, fieldErr("min_size", "must not be negative, got %d", int64(c.MinSize)))
	}
	if _, err := c.encodings(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.patterns(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func fieldErr(key, format string, args ...any) *registry.FieldError {
	return &registry.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// encodings resolves the `encodings` list.
func (c *Config) encodings() ([]encoding, *registry.FieldError) {
	if len(c.Encodings) == 0 {
		return nil, fieldErr("encodings", "must list at least one of gzip, zstd, br")
	}
	out := make([]encoding, 0, len(c.Encodings))
	for i, name := range c.Encodings {
		e, ok := parseEncodingName(name)
		if !ok {
			return nil, fieldErr(fmt.Sprintf("encodings[%d]", i), "unknown encoding %q: want gzip, zstd or br", name)
		}
		if slices.Contains(out, e) {
			return nil, fieldErr(fmt.Sprintf("encodings[%d]", i), "%q is listed twice", name)
		}
		out = append(out, e)
	}
	return out, nil
}

// patterns compiles the `content_types` list.
func (c *Config) patterns() ([]mediaPattern, *registry.FieldError) {
	if len(c.ContentTypes) == 0 {
		return nil, fieldErr("content_types", "must list at least one media type (text/* for example)")
	}
	out := make([]mediaPattern, 0, len(c.ContentTypes))
	for i, s := range c.ContentTypes {
		p, err := parseMediaPattern(s)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("content_types[%d]", i), "%v", err)
		}
		out = append(out, p)
	}
	return out, nil
}
