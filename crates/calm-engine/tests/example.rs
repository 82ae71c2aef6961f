//! Builds and runs the embedding example in `examples/embed.rs`.

#[path = "../../../examples/embed.rs"]
#[allow(dead_code)]
mod embed;

#[test]
fn embed_example_finds_the_unreachable_node() {
    assert_eq!(embed::run().unwrap(), vec!["d".to_string()]);
}
