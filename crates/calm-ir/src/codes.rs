//! Stable diagnostic codes of the IR layer (syntax errors are `E00xx`, in `calm-syntax`).

/// Unknown type name in a `.decl`.
pub const UNKNOWN_TYPE: &str = "E0100";
/// A relation used with different numbers of arguments.
pub const ARITY_MISMATCH: &str = "E0101";
/// A relation declared twice.
pub const DUPLICATE_DECL: &str = "E0102";
/// A directive names a relation that does not exist.
pub const UNKNOWN_RELATION: &str = "E0103";
/// Misuse of a built-in (`$`) relation or of a built-in predicate (`match`, `contains`), or a
/// call of a Souffle built-in functor that calm does not implement.
pub const BUILTIN_MISUSE: &str = "E0104";
/// A problem with an `@async` location argument.
pub const LOCATION: &str = "E0105";
/// An aggregate in the wrong place or malformed.
pub const AGGREGATE: &str = "E0106";
/// `_` where a value is needed.
pub const WILDCARD: &str = "E0107";
/// A constant expression in a fact that cannot be evaluated.
pub const CONST_EVAL: &str = "E0108";
/// A constant regular expression in `match` that does not compile (or is too large).
pub const BAD_PATTERN: &str = "E0109";
/// A directive parameter (or `IO=` value) that calm does not implement.
pub const IO_PARAM: &str = "E0110";
/// A lattice column misdeclared (not last, in an `eqrel`), a lattice calm does not implement,
/// or a lattice relation used where calm does not support one.
pub const LATTICE: &str = "E0111";
/// A subsumption clause calm cannot evaluate as Souffle does: its sides name different
/// relations, or it subsumes an input relation or a relation its own rules read.
pub const SUBSUMPTION: &str = "E0112";

/// A record or an ADT value misused: an unknown constructor, a constructor or a record
/// literal with the wrong number of fields, a record type that cannot be told, a duplicate
/// constructor.
pub const RECORD: &str = "E0120";
/// A variable that no positive atom binds.
pub const UNBOUND_VAR: &str = "E0200";
/// Conflicting types.
pub const TYPE_MISMATCH: &str = "E0300";
/// Negation or aggregation inside a recursive cycle within one tick.
pub const UNSTRATIFIABLE: &str = "E0400";
/// A relation that is read but never defined (warning).
pub const NEVER_DEFINED: &str = "W0100";
