//! The calm binary.
fn main() {}
