//! The state the pages render, read in one query ([`Store::lab_page_state`],
//! [`Store::catalog_state`]), equals what the separate reads give, on SQLite (always) and on
//! Postgres (`KPLAB_TEST_DATABASE_URL`, started by `./test`).

use kplab::store::{Session, SqlStore, Status, Store, TaskResult};

fn session(id: &str, learner: &str, lab: &str, status: Status, t: i64) -> Session {
    Session {
        id: id.into(),
        learner: learner.into(),
        lab: lab.into(),
        sandbox: format!("wb-{id}"),
        status,
        detail: format!("detail of {id}"),
        created_ms: t,
        updated_ms: t + 1,
        expires_ms: t + 1000,
    }
}

fn result(task: &str, passed: bool, t: i64) -> TaskResult {
    TaskResult {
        task: task.into(),
        passed,
        outcome: format!(r#"{{"task":"{task}","at":{t}}}"#),
        created_ms: t,
    }
}

async fn one_query_equals_separate_reads(store: &dyn Store, p: &str) {
    let (alice, bob) = (format!("{p}-alice"), format!("{p}-bob"));
    let (hello, other) = (format!("{p}-hello"), format!("{p}-other"));
    store.upsert_learner(&alice, "Alice", 1).await.unwrap();
    store.upsert_learner(&bob, "", 1).await.unwrap();

    // Nothing recorded yet: defaults.
    let st = store.lab_page_state(&alice, &hello).await.unwrap();
    assert_eq!((st.step, st.latest.clone(), st.results.len()), (0, None, 0));
    let labs = [hello.as_str(), other.as_str()];
    let cat = store.catalog_state(&alice, &labs).await.unwrap();
    assert_eq!(cat.name, "Alice");
    assert!(cat.passed.is_empty() && cat.live.is_empty());

    // An old stopped session and a newer running one; results with a fail then a pass, a
    // pass then a fail (still passed), a fail only; another learner's and another lab's.
    store
        .create_session(&session(
            &format!("{p}s1"),
            &alice,
            &hello,
            Status::Stopped,
            10,
        ))
        .await
        .unwrap();
    store
        .create_session(&session(
            &format!("{p}s2"),
            &alice,
            &hello,
            Status::Running,
            20,
        ))
        .await
        .unwrap();
    store
        .create_session(&session(
            &format!("{p}s3"),
            &bob,
            &hello,
            Status::Starting,
            30,
        ))
        .await
        .unwrap();
    store.set_step(&alice, &hello, 2, 40).await.unwrap();
    let s2 = format!("{p}s2");
    for (task, passed, t) in [
        ("b-task", false, 50),
        ("b-task", true, 51),
        ("a-task", true, 52),
        ("a-task", false, 53),
        ("c-task", false, 54),
    ] {
        store
            .record_result(&alice, &hello, &s2, &result(task, passed, t))
            .await
            .unwrap();
    }
    store
        .record_result(&alice, &other, &s2, &result("x-task", true, 60))
        .await
        .unwrap();
    store
        .record_result(&bob, &hello, &format!("{p}s3"), &result("a-task", true, 61))
        .await
        .unwrap();

    let st = store.lab_page_state(&alice, &hello).await.unwrap();
    assert_eq!(st.step, store.step(&alice, &hello).await.unwrap());
    assert_eq!(st.step, 2);
    assert_eq!(
        st.latest,
        store.latest_session(&alice, &hello).await.unwrap()
    );
    assert_eq!(st.latest.as_ref().unwrap().id, s2);
    assert_eq!(
        st.latest.as_ref().unwrap().detail,
        format!("detail of {s2}")
    );
    assert_eq!(st.results, store.results(&alice, &hello).await.unwrap());
    let summary: Vec<(&str, bool, i64)> = st
        .results
        .iter()
        .map(|r| (r.task.as_str(), r.passed, r.created_ms))
        .collect();
    assert_eq!(
        summary,
        [
            ("a-task", true, 53),
            ("b-task", true, 51),
            ("c-task", false, 54)
        ]
    );

    let cat = store.catalog_state(&alice, &labs).await.unwrap();
    assert_eq!(cat.name, "Alice");
    // The ids of the tasks ever passed, per lab (in any order).
    let ids = |st: &kplab::store::CatalogState, lab: &str| {
        let mut v = st.passed.get(lab).cloned().unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(ids(&cat, &hello), ["a-task", "b-task"]);
    assert_eq!(ids(&cat, &other), ["x-task"]);
    assert_eq!(cat.live.get(&hello), Some(&Status::Running));
    assert_eq!(cat.live.get(&other), None);
    // Only the labs asked about.
    let only = store
        .catalog_state(&alice, &[hello.as_str()])
        .await
        .unwrap();
    assert_eq!(only.passed.len(), 1);
    let bobs = store.catalog_state(&bob, &labs).await.unwrap();
    assert_eq!(bobs.name, "");
    assert_eq!(ids(&bobs, &hello), ["a-task"]);
    assert_eq!(bobs.live.get(&hello), Some(&Status::Starting));
    // An unknown learner: empty, not an error.
    let nobody = store
        .catalog_state(&format!("{p}-nobody"), &labs)
        .await
        .unwrap();
    assert!(nobody.name.is_empty() && nobody.passed.is_empty() && nobody.live.is_empty());
}

#[tokio::test]
async fn sqlite_page_state_in_one_query() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("kplab.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    one_query_equals_separate_reads(&store, "t").await;
}

#[tokio::test]
#[ignore = "needs Postgres"]
async fn postgres_page_state_in_one_query() {
    let (store, prefix) = kplab_testkit::store::postgres().await;
    one_query_equals_separate_reads(&store, &prefix).await;
}
