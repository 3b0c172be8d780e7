// Package config loads, validates and describes a Switchyard configuration.
//
// # Loading
//
// [Load] reads a YAML, TOML or JSON file (chosen by extension), the files it
// includes, and the SWITCHYARD_ environment overrides, and merges them over
// [Defaults] with a fresh koanf instance per load:
//
//	defaults  <-  main file  <-  its includes, in order (recursively)  <-  environment
//
// Maps merge key by key; lists and scalars replace, except `routes`, whose
// lists are concatenated in merge order so that routes can be split across
// files. The merged map is decoded strictly (unknown keys and wrong types
// are errors, never ignored or coerced) and validated: plugin references,
// duplicate plugins in a chain, route patterns, methods, duplicate routes,
// CIDRs, ranges. [LoadBytes] does the same for a main file held in memory.
//
// # Errors
//
// A failed load returns [Errors]: every problem found, each an [Error] with
// the file, the line (YAML, JSON and TOML positions are tracked) and the key
// path, such as
//
//	/etc/switchyard/config.yaml:14: plugins.perip.rate: expected int, got string
//
// Errors found later, while building plugin instances or compiling
// conditions from a loaded configuration, are located the same way by
// [Loaded.Annotate], which uses [Loaded.Locate].
//
// # Versions and hashes
//
// [Loaded.Hash] changes when the content of any file read (or an
// environment override) changes; [Loaded.Version] changes when the effective
// configuration changes, whatever files or format it came from.
//
// # Printing
//
// [Marshal] renders a configuration as YAML that loads back to the same
// configuration, and [Redact] hides secrets in the raw map before the admin
// API shows it.
package config
