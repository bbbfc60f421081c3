//! The lab page's task flow over the fake lab runtime (no Docker): a step's ✓ and a lit
//! "Next step" once its tasks pass, the completion view with the next lab once every task of the
//! lab has, the notice after each form action, hints as rendered markdown in the page and in a
//! failed check's answer, and a panel call on a lab broken from outside answered 409 "lost"
//! (not 500) with the lab marked lost at once; challenge and optional steps and observe-only
//! tasks shown as such, and a lab complete without its optional step. Pages are read with CSS
//! selectors.

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

    // The three tasks of step 1 pass: the step's ✓ and "Next step" lit.
    rt.on_exec("wc -l", 0, "2");
    rt.on_exec("{.spec.replicas}", 0, "2");
    rt.on_exec("{.status.readyReplicas}", 0, "2");
    rt.on_exec("--no-headers", 0, "10.244.2.5");
    for (task, body) in [
        ("count-nodes", r#"{"answer":"2"}"#),
        ("create-web", "{}"),
        ("pod-node-2", r#"{"answer":"10.244.2.5"}"#),
    ] {
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
    let total = lab.required_tasks().count();
    assert_eq!(
        one_text(&doc, "#progress"),
        format!("3 of {total} tasks done")
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
        !all(&doc, "#task-create-web .hint.level[data-level='2'] code").is_empty(),
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

/// A lab of three steps: a task that only asks to look beside one that is earned, an optional
/// step, and a challenge.
fn kinds_lab(root: &std::path::Path) {
    let dir = root.join("50-kinds");
    std::fs::create_dir_all(&dir).unwrap();
    let state = |jsonpath: &str| {
        format!("    checks:\n      - kind: state\n        resource: deployments\n        name: web\n        jsonpath: \"{jsonpath}\"\n        equals: \"3\"\n")
    };
    let files = [
        ("lab.md", "---\ntitle: Kinds\nminutes: 10\n---\nIntro.\n".to_string()),
        (
            "01-look.md",
            format!(
                "---\ntitle: Look and act\ntasks:\n  - id: look\n    title: Look at web\n    observe: true\n{}  - id: act\n    title: Scale web\n{}---\n# Look and act\n",
                state("{.spec.replicas}"),
                state("{.status.readyReplicas}")
            ),
        ),
        (
            "02-extra.md",
            format!(
                "---\ntitle: By hand\noptional: true\ntasks:\n  - id: extra\n    title: Extra\n{}---\n# By hand\n",
                state("{.metadata.generation}")
            ),
        ),
        (
            "03-goal.md",
            format!(
                "---\ntitle: Make it so\nchallenge: true\ntasks:\n  - id: goal\n    title: Three ready\n{}---\n# Make it so\nThree pods must answer.\n",
                state("{.status.availableReplicas}")
            ),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[tokio::test]
async fn challenge_optional_and_observe_show_and_optional_steps_do_not_block_completion() {
    let labs = tempfile::tempdir().unwrap();
    kinds_lab(labs.path());
    let rt = FakeRuntime::new();
    let s = Server::start_fake_with_labs("wsf-d-", labs.path(), rt.clone()).await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("50-kinds", WITHIN).await;

    let doc = page(&mut c, "/labs/50-kinds").await;
    // The step list names the optional step and the challenge.
    let links: Vec<String> = all(&doc, ".step-link").into_iter().map(text).collect();
    assert!(
        links[1].contains("By hand") && links[1].contains("optional"),
        "{links:?}"
    );
    assert!(
        links[2].contains("Make it so") && links[2].contains("challenge"),
        "{links:?}"
    );
    assert!(!links[0].contains("optional") && !links[0].contains("challenge"));
    // Only the observe task carries the "look" tag, with its explanation.
    let tags = all(&doc, ".task .tag.observe");
    assert_eq!(tags.len(), 1, "{}", doc.html());
    assert_eq!(all(&doc, "#task-look .tag.observe").len(), 1);
    assert!(tags[0]
        .value()
        .attr("title")
        .unwrap()
        .contains("asks you to look"));
    // The optional step's task does not count.
    assert_eq!(one_text(&doc, "#progress"), "0 of 3 tasks done");
    assert!(all(&doc, "#step-kind").is_empty());

    let doc = page(&mut c, "/labs/50-kinds?step=3").await;
    assert!(one_text(&doc, "#step-title").contains("challenge"));
    assert!(one_text(&doc, "#step-kind.challenge").contains("no commands"));
    let doc = page(&mut c, "/labs/50-kinds?step=2").await;
    assert!(one_text(&doc, "#step-kind.optional").contains("complete without this step"));

    // The optional step's task passes: neither the page nor the catalog counts it.
    rt.on_exec("jsonpath", 0, "3");
    let r = c
        .post_json(&format!("/api/sessions/{id}/tasks/extra/check"), "{}")
        .await;
    assert_eq!(r.json()["passed"], true, "{r:?}");
    let doc = page(&mut c, "/labs/50-kinds").await;
    assert_eq!(one_text(&doc, "#progress"), "0 of 3 tasks done");
    let doc = page(&mut c, "/").await;
    assert_eq!(
        one_text(&doc, "li.lab-card[data-lab='50-kinds'] p.progress"),
        "0 of 3 tasks done"
    );

    // The three required tasks pass: the lab is complete.
    for task in ["look", "act", "goal"] {
        let r = c
            .post_json(&format!("/api/sessions/{id}/tasks/{task}/check"), "{}")
            .await;
        assert_eq!(r.json()["passed"], true, "{task}: {r:?}");
    }
    let doc = page(&mut c, "/labs/50-kinds").await;
    assert_eq!(one_text(&doc, "#progress"), "3 of 3 tasks done");
    assert!(one_text(&doc, "#complete").contains("all 3 tasks"));
    let doc = page(&mut c, "/").await;
    assert_eq!(
        one_text(&doc, "li.lab-card[data-lab='50-kinds'] p.progress"),
        "3 of 3 tasks done"
    );
    s.shutdown().await;
}
