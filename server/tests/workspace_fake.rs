//! The lab page's task flow over the fake lab runtime (no Docker): a step's ✓ and a lit
//! "Next step" once its tasks pass, the completion view with the next lab once every task of the
//! lab has, the notice after each form action, hints as rendered markdown in the page and in a
//! failed check's answer, and a panel call on a lab broken from outside answered 409 "lost"
//! (not 500) with the lab marked lost at once. Pages are read with CSS selectors.

use std::time::Duration;

use kplab::engine::runtime::Health;
use kplab::store::{Status, TaskResult};
use kplab_testkit::fake::FakeRuntime;
use kplab_testkit::html::{all, text};
use kplab_testkit::web::{Client, Server};
use scraper::Html;

const WITHIN: Duration = Duration::from_secs(20);

fn one_text(doc: &Html, css: &str) -> String {
    let found = all(doc, css);
    assert_eq!(found.len(), 1, "one {css} in:\n{}", doc.html());
    text(found[0])
}

async fn page(c: &mut Client, path: &str) -> Html {
    let r = c.get(path).await;
    assert_eq!(r.status, 200, "{path}: {r:?}");
    Html::parse_document(&r.body)
}

async fn started(prefix: &str) -> (Server, std::sync::Arc<FakeRuntime>, Client, String) {
    let rt = FakeRuntime::new();
    let s = Server::start_fake(prefix, 4, None, rt.clone()).await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    (s, rt, c, id)
}

#[tokio::test]
async fn a_step_gets_its_check_mark_and_the_lab_its_completion() {
    let (s, rt, mut c, id) = started("wsf-a-").await;
    let doc = page(&mut c, "/labs/00-hello").await;
    assert!(all(&doc, ".step-link.done").is_empty());
    assert!(all(&doc, "#next-step.primary").is_empty());
    assert_eq!(one_text(&doc, "#next-step"), "Next step →");
    assert!(all(&doc, "#prev-step, #complete").is_empty());

    // Both tasks of step 1 pass: the step's ✓ and "Next step" lit.
    rt.on_exec("wc -l", 0, "2");
    rt.on_exec("{.spec.replicas}", 0, "2");
    for (task, body) in [("count-nodes", r#"{"answer":"2"}"#), ("create-web", "{}")] {
        let r = c
            .post_json(&format!("/api/sessions/{id}/tasks/{task}/check"), body)
            .await;
        assert_eq!(r.json()["passed"], true, "{task}: {r:?}");
    }
    let doc = page(&mut c, "/labs/00-hello").await;
    let done = all(&doc, ".step-link.done");
    assert_eq!(done.len(), 1, "{}", doc.html());
    assert_eq!(done[0].value().attr("aria-current"), Some("step"));
    assert!(text(done[0]).starts_with('✓'), "{}", text(done[0]));
    assert_eq!(all(&doc, "#next-step.primary").len(), 1);
    assert!(all(&doc, "#complete").is_empty(), "step 2 is not done");
    let lab = s.state.catalog.lab("00-hello").unwrap();
    let total: usize = lab.steps.iter().map(|p| p.tasks.len()).sum();
    assert_eq!(
        one_text(&doc, "#progress"),
        format!("2 of {total} tasks done")
    );

    // Every task of the lab passed: the completion view names the next lab.
    for t in lab.steps.iter().flat_map(|p| &p.tasks) {
        s.state
            .store
            .record_result(
                &s.state.store.session(&id).await.unwrap().unwrap().learner,
                "00-hello",
                &id,
                &TaskResult {
                    task: t.id.clone(),
                    passed: true,
                    outcome: "{}".into(),
                    created_ms: 1,
                },
            )
            .await
            .unwrap();
    }
    let doc = page(&mut c, "/labs/00-hello?step=2").await;
    let complete = one_text(&doc, "#complete");
    assert!(
        complete.contains(&format!("You passed all {total} tasks")),
        "{complete}"
    );
    let next = &s.state.catalog.labs[1];
    let link = all(&doc, "#complete a#next-lab");
    assert_eq!(
        link[0].value().attr("href"),
        Some(format!("/labs/{}", next.id).as_str())
    );
    assert_eq!(all(&doc, ".step-link.done").len(), 2);
    assert!(
        all(&doc, "#next-step").is_empty(),
        "the last step has no next"
    );
    assert_eq!(all(&doc, "#prev-step").len(), 1);
    s.shutdown().await;
}

#[tokio::test]
async fn each_form_action_says_what_it_did_and_hints_render_markdown() {
    let (s, rt, mut c, id) = started("wsf-b-").await;
    // The hints of a task: hidden levels, markdown rendered, no raw backticks.
    let doc = page(&mut c, "/labs/00-hello").await;
    let hint = one_text(&doc, "#task-create-web .hint.level[data-level='1']");
    assert!(!hint.contains('`'), "{hint}");
    assert_eq!(
        all(&doc, "#task-create-web .hint.level").len(),
        2,
        "two levels: {}",
        doc.html()
    );
    let second = one_text(&doc, "#task-create-web .hint.level[data-level='2']");
    assert!(second.starts_with("Hint 2 of 2:"), "{second}");
    assert!(
        all(&doc, "#task-create-web .hint.level[data-level='2'] code").len() == 1,
        "{}",
        doc.html()
    );
    // A failed check's hint comes rendered too.
    rt.on_exec("{.spec.replicas}", 0, "1");
    let r = c
        .post_json(&format!("/api/sessions/{id}/tasks/create-web/check"), "{}")
        .await;
    let v = r.json();
    assert_eq!(v["passed"], false, "{v}");
    let html = v["hint_html"].as_str().expect("hint_html");
    assert!(html.contains("<code>") && !html.contains('`'), "{html}");

    // Each action's redirect names it, and the page says it once.
    for (form, body, done, says) in [
        ("reset", "scope=step", "reset-step", "Step 1 was reset"),
        ("extend", "", "extend", "the idle stop moved back"),
        ("stop", "", "stop", "The lab was stopped"),
    ] {
        let r = c.post_form(&format!("/labs/00-hello/{form}"), body).await;
        let to = format!("/labs/00-hello?done={done}");
        assert_eq!((r.status, r.header("location")), (303, Some(to.as_str())));
        let doc = page(&mut c, &to).await;
        let notice = one_text(&doc, "#notice[role=status]");
        assert!(notice.contains(says), "{notice}");
    }
    // Unknown actions show nothing.
    let doc = page(&mut c, "/labs/00-hello?done=%3Cscript%3E").await;
    assert!(all(&doc, "#notice").is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn a_panel_call_on_a_broken_lab_says_lost_at_once() {
    let (s, rt, mut c, id) = started("wsf-c-").await;
    let sb = s.state.store.session(&id).await.unwrap().unwrap().sandbox;
    rt.set_health(&sb, Health::Missing);
    rt.fail_next(kplab_testkit::fake::Op::Exec, 1, "No such container");
    let r = c
        .get(&format!("/api/sessions/{id}/nodes/node-1/ruleset"))
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("stopped working"), "{msg}");
    let now = s.state.store.session(&id).await.unwrap().unwrap();
    assert_eq!(
        now.status,
        Status::Lost,
        "marked lost without waiting for the sweep"
    );
    s.shutdown().await;
}
