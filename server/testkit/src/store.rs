//! The store tests' Postgres: the database `KPLAB_TEST_DATABASE_URL` names (`./test` starts one).

use kplab::store::SqlStore;

/// A connected, migrated store on the test Postgres and a prefix unique to this run for the
/// ids a test writes there (the database keeps earlier runs' rows).
pub async fn postgres() -> (SqlStore, String) {
    let url = std::env::var("KPLAB_TEST_DATABASE_URL")
        .expect("KPLAB_TEST_DATABASE_URL must name a Postgres database");
    let store = SqlStore::connect(&url).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (store, format!("p{nanos}"))
}
