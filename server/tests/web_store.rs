//! The store's contract, run on SQLite (always) and on Postgres (when
//! `KPLAB_TEST_DATABASE_URL` names one; `./test` starts it — ignored by plain `cargo test`).

use kplab::store::{Session, SqlStore, Status, Store, StoreError, TaskResult};

fn session(id: &str, learner: &str, lab: &str, status: Status, t: i64) -> Session {
    Session {
        id: id.into(),
        learner: learner.into(),
        lab: lab.into(),
        sandbox: format!("wb-{id}"),
        status,
        detail: String::new(),
        created_ms: t,
        updated_ms: t,
        expires_ms: t + 1000,
    }
}

async fn contract(store: &dyn Store, prefix: &str) {
    // The server id is made once and kept: a later fresh one does not replace it.
    let id = store.server_id(&format!("{prefix}-id-1")).await.unwrap();
    assert!(!id.is_empty());
    assert_eq!(
        store.server_id(&format!("{prefix}-id-2")).await.unwrap(),
        id
    );

    let alice = format!("{prefix}-alice");
    let bob = format!("{prefix}-bob");
    let l = store.upsert_learner(&alice, "", 1).await.unwrap();
    assert_eq!(l.name, "");
    let l = store.upsert_learner(&alice, "Alice", 2).await.unwrap();
    assert_eq!(l.name, "Alice");
    assert_eq!(
        store.upsert_learner(&alice, "", 3).await.unwrap().name,
        "Alice",
        "empty name keeps the old"
    );
    store.upsert_learner(&bob, "", 1).await.unwrap();
    assert!(store
        .learner(&format!("{prefix}-nobody"))
        .await
        .unwrap()
        .is_none());

    // One live session per learner and lab.
    let s1 = session(
        &format!("{prefix}s1"),
        &alice,
        "00-hello",
        Status::Starting,
        10,
    );
    store.create_session(&s1).await.unwrap();
    let dup = session(
        &format!("{prefix}s2"),
        &alice,
        "00-hello",
        Status::Starting,
        11,
    );
    assert!(matches!(
        store.create_session(&dup).await,
        Err(StoreError::LiveSessionExists { .. })
    ));
    // Another lab, or another learner, is fine.
    store
        .create_session(&session(
            &format!("{prefix}s3"),
            &alice,
            "01-other",
            Status::Running,
            12,
        ))
        .await
        .unwrap();
    store
        .create_session(&session(
            &format!("{prefix}s4"),
            &bob,
            "00-hello",
            Status::Running,
            13,
        ))
        .await
        .unwrap();

    store
        .set_status(&s1.id, Status::Running, "", 20)
        .await
        .unwrap();
    let got = store.session(&s1.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::Running);
    assert_eq!(got.updated_ms, 20);
    store.set_expiry(&s1.id, 5000, 21).await.unwrap();
    assert_eq!(
        store.session(&s1.id).await.unwrap().unwrap().expires_ms,
        5000
    );
    assert_eq!(
        store
            .live_session(&alice, "00-hello")
            .await
            .unwrap()
            .unwrap()
            .id,
        s1.id
    );
    let live: Vec<String> = store
        .live_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .filter(|id| id.starts_with(prefix))
        .collect();
    assert_eq!(live.len(), 3);

    // Stopping frees the slot; the latest session is still found.
    store
        .set_status(&s1.id, Status::Stopped, "by learner", 30)
        .await
        .unwrap();
    assert!(store
        .live_session(&alice, "00-hello")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .latest_session(&alice, "00-hello")
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Stopped
    );
    store.create_session(&dup).await.unwrap();
    assert_eq!(
        store
            .latest_session(&alice, "00-hello")
            .await
            .unwrap()
            .unwrap()
            .id,
        dup.id
    );

    // Progress.
    assert_eq!(store.step(&alice, "00-hello").await.unwrap(), 0);
    store.set_step(&alice, "00-hello", 1, 40).await.unwrap();
    store.set_step(&alice, "00-hello", 2, 41).await.unwrap();
    assert_eq!(store.step(&alice, "00-hello").await.unwrap(), 2);
    assert_eq!(store.step(&bob, "00-hello").await.unwrap(), 0);

    // Results: passed if ever passed, latest outcome kept, per learner.
    let r = |task: &str, passed: bool, t: i64| TaskResult {
        task: task.into(),
        passed,
        outcome: format!("{{\"t\":{t}}}"),
        created_ms: t,
    };
    store
        .record_result(&alice, "00-hello", &s1.id, &r("a", false, 50))
        .await
        .unwrap();
    store
        .record_result(&alice, "00-hello", &s1.id, &r("a", true, 51))
        .await
        .unwrap();
    store
        .record_result(&alice, "00-hello", &dup.id, &r("a", false, 52))
        .await
        .unwrap();
    store
        .record_result(&alice, "00-hello", &dup.id, &r("b", false, 53))
        .await
        .unwrap();
    store
        .record_result(&bob, "00-hello", "x", &r("a", true, 54))
        .await
        .unwrap();
    let res = store.results(&alice, "00-hello").await.unwrap();
    assert_eq!(res.len(), 2);
    assert_eq!(
        (res[0].task.as_str(), res[0].passed, res[0].outcome.as_str()),
        ("a", true, "{\"t\":52}")
    );
    assert_eq!((res[1].task.as_str(), res[1].passed), ("b", false));

    store.record_event(&s1.id, "start", "ok", 60).await.unwrap();
    store
        .record_event(&s1.id, "stop", "by learner", 61)
        .await
        .unwrap();
    assert_eq!(
        store.events(&s1.id).await.unwrap(),
        vec![
            ("start".to_string(), "ok".to_string()),
            ("stop".to_string(), "by learner".to_string())
        ]
    );
}

#[tokio::test]
async fn sqlite_store_contract_and_durability() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("kplab.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    contract(&store, "t").await;
    store.close().await;
    // Reopen: migrations are idempotent and everything is still there.
    let store = SqlStore::connect(&url).await.unwrap();
    assert_eq!(store.server_id("other").await.unwrap(), "t-id-1");
    assert_eq!(store.step("t-alice", "00-hello").await.unwrap(), 2);
    assert!(store.results("t-alice", "00-hello").await.unwrap()[0].passed);
}

#[tokio::test]
async fn bad_urls_are_refused_with_the_password_hidden() {
    let err = SqlStore::connect("mysql://u:pw@h/db")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("sqlite: or postgres://"), "{err}");
    assert!(!err.contains("pw"), "{err}");
}

#[tokio::test]
#[ignore = "needs Postgres"]
async fn postgres_store_contract() {
    let (store, prefix) = kplab_testkit::store::postgres().await;
    contract(&store, &prefix).await;
}
