//! `evalgate.example.toml` stays a valid config, and the values it shows are the real defaults.

use evalgate::config::Config;

fn json<T: serde::Serialize>(section: &T) -> serde_json::Value {
    serde_json::to_value(section).expect("serialise a config section")
}

#[test]
fn the_example_config_is_valid_and_shows_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/evalgate.example.toml");
    let text = std::fs::read_to_string(path).expect("read the example config");
    let example = Config::from_toml_str("evalgate.example.toml", &text).expect("example is valid");
    let defaults = Config::default();
    assert_eq!(json(&example.store), json(&defaults.store));
    assert_eq!(json(&example.sampling), json(&defaults.sampling));
    assert_eq!(json(&example.ingest), json(&defaults.ingest));
    assert_eq!(json(&example.flags), json(&defaults.flags));
    assert_eq!(json(&example.notify), json(&defaults.notify));
    assert_eq!(json(&example.schedule), json(&defaults.schedule));
}
