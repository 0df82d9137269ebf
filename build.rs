//! Rebuilds the crate when a migration file changes (sqlx's `migrate!` embeds them).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
