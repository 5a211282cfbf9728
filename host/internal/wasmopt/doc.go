// Package wasmopt reads WebAssembly modules before they are compiled: it checks them against
// limits that keep hostile modules cheap to refuse, and rewrites them so that they are cheaper
// to instantiate, without changing what they do.
//
// Parse reads a module once into a Module: its sections, types, imports, exports, globals,
// data segments, and every function body decoded instruction by instruction, with the figures
// Check compares with Limits (body size, locals, block nesting, instructions). A caller can
// validate a module's imports and exports from the Module and refuse it before the compiler
// sees it.
//
// The transformations read the Module instead of the bytes again: Snapshottable,
// ExportGlobals (WithGlobalsExported), MergeDataSegments and DataImage, whose Image of the
// initial memory is sparse. Each copies what it does not change byte for byte and returns the
// module's bytes (the same slice) when it has nothing to gain or does not apply. The functions
// of the same names take bytes, parse them and apply the method.
//
// Errors wrap ErrMalformed (Parse: the module is not a well-formed WebAssembly 2.0 binary)
// or ErrLimit (Check). Typing is left to the compiler.
package wasmopt
