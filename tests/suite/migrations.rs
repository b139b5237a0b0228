//! Every part's migrations resolve on both backends: one folder of the steps
//! they share, and per backend only the steps whose DDL differs, with the same
//! versions on both sides so neither backend misses a step.

use zhengqi_shared::storage::{Backend, Migrations};

#[test]
fn every_parts_migrations_resolve_to_the_same_versions_on_both_backends() {
    let parts: [(&str, &Migrations); 6] = [
        ("intake", &zhengqi_intake::MIGRATIONS),
        ("routing", &zhengqi_routing::MIGRATIONS),
        ("policy", &zhengqi_policy::MIGRATIONS),
        ("evaluation", &zhengqi_evaluation::MIGRATIONS),
        ("scoring", &zhengqi_scoring::MIGRATIONS),
        ("audit", &zhengqi_gateway::audit::MIGRATIONS),
    ];
    for (part, migrations) in parts {
        let versions = |backend| -> Vec<i64> {
            migrations
                .for_backend(backend)
                .unwrap_or_else(|e| panic!("{part}: {e}"))
                .iter()
                .map(|m| m.version)
                .collect()
        };
        let sqlite = versions(Backend::Sqlite);
        assert_eq!(sqlite, versions(Backend::Postgres), "{part}");
        assert!(sqlite.windows(2).all(|w| w[0] < w[1]), "{part}: {sqlite:?}");
        assert!(!sqlite.is_empty(), "{part}");
    }
    // Where the DDL differs, each backend runs its own text of the step.
    let text = |backend| {
        zhengqi_scoring::MIGRATIONS
            .for_backend(backend)
            .unwrap()
            .into_iter()
            .find(|m| m.version == 20261127000001)
            .unwrap()
            .sql
            .as_str()
            .to_owned()
    };
    assert!(text(Backend::Sqlite).contains("BLOB"));
    assert!(text(Backend::Postgres).contains("BYTEA"));
}
