//! Rebuilds the crate when a migration file is added: `sqlx::migrate!`
//! embeds the `migrations/` directories, which cargo does not watch by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
