//! The schema migrations compiled into the binary, one list per backend, run by sqlx's migrator.
//!
//! Built from `include_str!` rather than `sqlx::migrate!`: the macro is the only reason to enable
//! sqlx's `macros` feature, which compiles both database drivers (bundled SQLite, the TLS stack) a
//! second time for the proc-macro host build. Versions, descriptions and checksums are the ones the
//! macro produced (SHA-384 of the file's text, description from the file name), so a database
//! migrated by an earlier evalgate validates unchanged. A test checks each list against its
//! directory, so a new migration file cannot be left out.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One migration file: version, description (the file name's words) and its SQL text.
type Source = (i64, &'static str, &'static str);

/// Every migration of backend directory `$dir`, in order. Both backends have the same files
/// (same versions and names, each in its own SQL dialect), listed once here.
macro_rules! migrations {
    ($dir:literal) => {
        migrations!(@files $dir:
            (1, "core", "0001_core.sql"),
            (2, "scores", "0002_scores.sql"),
            (3, "gates", "0003_gates.sql"),
            (4, "rollouts", "0004_rollouts.sql"),
            (5, "ticks", "0005_ticks.sql"),
            (6, "scheduler", "0006_scheduler.sql"),
            (7, "integrity", "0007_integrity.sql"),
            (8, "tick budgets", "0008_tick_budgets.sql"),
            (9, "ttft", "0009_ttft.sql"),
            (10, "history index", "0010_history_index.sql"),
            (11, "drop score evaluator index", "0011_drop_score_evaluator_index.sql"),
        )
    };
    (@files $dir:literal: $(($version:literal, $description:literal, $file:literal)),+ $(,)?) => {
        &[$(($version, $description, include_str!(concat!("../../../migrations/", $dir, "/", $file)))),+]
    };
}

const SQLITE: &[Source] = migrations!("sqlite");

const POSTGRES: &[Source] = migrations!("postgres");

fn migrator(sources: &[Source]) -> Migrator {
    Migrator::with_migrations(
        sources
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

/// The SQLite store's migrations.
pub(super) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// The PostgreSQL store's migrations.
pub(super) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sqlx::migrate!` read from a directory: (version, description, text) per `.sql` file.
    fn on_disk(dir: &str) -> Vec<(i64, String, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut found: Vec<(i64, String, String)> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                let (version, rest) = name.split_once('_').unwrap();
                let description = rest.trim_end_matches(".sql").replace('_', " ");
                let text = std::fs::read_to_string(path.join(&name)).unwrap();
                (version.parse().unwrap(), description, text)
            })
            .collect();
        found.sort();
        found
    }

    fn listed(sources: &[Source]) -> Vec<(i64, String, String)> {
        sources
            .iter()
            .map(|&(version, description, sql)| (version, description.to_owned(), sql.to_owned()))
            .collect()
    }

    #[test]
    fn each_list_is_exactly_its_directory() {
        assert_eq!(listed(SQLITE), on_disk("sqlite"));
        assert_eq!(listed(POSTGRES), on_disk("postgres"));
    }

    /// Recorded in `_sqlx_migrations` by a store the `sqlx::migrate!` build migrated: an existing
    /// database must validate against the list built here (and an applied migration never changes).
    #[test]
    fn checksums_match_what_the_macro_built_binary_stored() {
        let recorded = "bce1a5e224809ea6949128d97a68fd17aaea01c2125105847f0843bcb3a5dd94\
                        bd7b81205259c9945bd70919941957ac";
        let migrator = sqlite();
        let first = migrator.iter().next().unwrap();
        assert_eq!((first.version, &*first.description), (1, "core"));
        assert_eq!(hex::encode(&*first.checksum), recorded);
        assert_eq!(migrator.iter().count(), SQLITE.len());
        assert_eq!(postgres().iter().count(), POSTGRES.len());
    }
}
