//! The workshop store's contract (migrations 0002), on SQLite always and on Postgres when
//! `KPLAB_TEST_DATABASE_URL` names one (`./test` starts it; ignored by plain `cargo test`).

use kplab::store::Workshop;
use kplab::store::{Session, SqlStore, Status, Store};

fn workshop(id: &str, code: &str) -> Workshop {
    Workshop {
        id: id.into(),
        name: "Services 101".into(),
        labs: vec!["00-hello".into(), "01-x".into()],
        join_code: code.into(),
        capacity: 30,
        warm_pool: 5,
        starts_ms: 100,
        ends_ms: 200,
        open: true,
        ended: false,
        message: String::new(),
        created_ms: 50,
    }
}

async fn contract(store: &dyn Store, p: &str) {
    let ws = store.workshops();
    let w = workshop(&format!("{p}w1"), &format!("{}A", p.to_uppercase()));
    assert!(ws.create_workshop(&w).await.unwrap());
    // The join code is unique.
    let dup = workshop(&format!("{p}w2"), &w.join_code);
    assert!(!ws.create_workshop(&dup).await.unwrap());
    assert!(ws.workshop(&dup.id).await.unwrap().is_none());
    assert_eq!(ws.workshop(&w.id).await.unwrap().as_ref(), Some(&w));
    assert_eq!(
        ws.workshop_by_code(&w.join_code).await.unwrap().as_ref(),
        Some(&w)
    );
    assert!(ws.workshop_by_code("NOPE99").await.unwrap().is_none());
    assert!(ws.workshops().await.unwrap().iter().any(|x| x.id == w.id));

    // Close, extend, pin a message: saved.
    let mut w2 = w.clone();
    w2.open = false;
    w2.ended = true;
    w2.ends_ms = 300;
    w2.message = "Break until 11:00".into();
    ws.update_workshop(&w2).await.unwrap();
    assert_eq!(ws.workshop(&w.id).await.unwrap(), Some(w2.clone()));

    // Members: join order, rename keeps the join time, hands.
    let alice = format!("{p}-alice");
    let bob = format!("{p}-bob");
    store.upsert_learner(&alice, "", 1).await.unwrap();
    store.upsert_learner(&bob, "", 1).await.unwrap();
    let m = ws.add_member(&w.id, &alice, "Alice", 10).await.unwrap();
    assert_eq!((m.name.as_str(), m.joined_ms, m.hand_ms), ("Alice", 10, 0));
    ws.add_member(&w.id, &bob, "Bob", 11).await.unwrap();
    let again = ws.add_member(&w.id, &alice, "Alice B", 12).await.unwrap();
    assert_eq!((again.name.as_str(), again.joined_ms), ("Alice B", 10));
    let names: Vec<String> = ws
        .members(&w.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["Alice B", "Bob"]);
    ws.set_hand(&w.id, &bob, 42).await.unwrap();
    assert_eq!(ws.membership(&bob).await.unwrap().unwrap().hand_ms, 42);
    ws.set_hand(&w.id, &bob, 0).await.unwrap();
    assert_eq!(ws.membership(&bob).await.unwrap().unwrap().hand_ms, 0);
    assert!(ws
        .all_members()
        .await
        .unwrap()
        .iter()
        .any(|m| m.learner == alice && m.workshop == w.id));
    assert!(ws
        .membership(&format!("{p}-nobody"))
        .await
        .unwrap()
        .is_none());

    // Progress time.
    assert_eq!(ws.progress_since(&alice, "00-hello").await.unwrap(), None);
    store.set_step(&alice, "00-hello", 1, 77).await.unwrap();
    assert_eq!(
        ws.progress_since(&alice, "00-hello").await.unwrap(),
        Some(77)
    );

    // Hand-over of a pool lab: only from the named owner, only while live, never onto a
    // learner who already has that lab live.
    let pool = format!("pool-{p}");
    store.upsert_learner(&pool, "", 1).await.unwrap();
    let s = Session {
        id: format!("{p}s1"),
        learner: pool.clone(),
        lab: "00-hello".into(),
        sandbox: format!("ws-{p}s1"),
        status: Status::Running,
        detail: String::new(),
        created_ms: 1,
        updated_ms: 1,
        expires_ms: 1000,
    };
    store.create_session(&s).await.unwrap();
    assert!(!ws.hand_over(&s.id, &bob, &alice, 5).await.unwrap());
    assert!(ws.hand_over(&s.id, &pool, &alice, 5).await.unwrap());
    assert_eq!(store.session(&s.id).await.unwrap().unwrap().learner, alice);
    assert!(!ws.hand_over(&s.id, &pool, &bob, 6).await.unwrap());
    let s2 = Session {
        id: format!("{p}s2"),
        sandbox: format!("ws-{p}s2"),
        ..s.clone()
    };
    store.create_session(&s2).await.unwrap();
    assert!(
        !ws.hand_over(&s2.id, &pool, &alice, 7).await.unwrap(),
        "alice already has 00-hello live"
    );
    store
        .set_status(&s2.id, Status::Stopped, "", 8)
        .await
        .unwrap();
    assert!(!ws.hand_over(&s2.id, &pool, &bob, 9).await.unwrap());
}

#[tokio::test]
async fn sqlite_workshop_store_contract_and_durability() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("kplab.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    contract(&store, "t").await;
    store.close().await;
    let store = SqlStore::connect(&url).await.unwrap();
    let w = store.workshops().workshop("tw1").await.unwrap().unwrap();
    assert_eq!(w.message, "Break until 11:00");
    assert_eq!(store.workshops().members("tw1").await.unwrap().len(), 2);
}

#[tokio::test]
#[ignore = "needs Postgres"]
async fn postgres_workshop_store_contract() {
    let (store, prefix) = kplab_testkit::store::postgres().await;
    contract(&store, &prefix).await;
}
