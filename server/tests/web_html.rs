//! The pages' structure, asserted with CSS selectors (`scraper`), not substrings: the
//! catalog lists every lab with its title and link; a lab page has the step text, a tab per
//! host, the tasks with Check buttons, a copy button on every code block and a run button on
//! each marked one, sanitised content (a script in the markdown does not survive); a running
//! lab shows the idle countdown and the extend button; a lab whose container was killed from
//! outside shows "restart lab". Content is the repository's labs plus hostile markdown added
//! to a copy of them. Needs Docker and the node image.

use kplab_testkit::web as web_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kplab::domain::config::{Config, ServeArgs};
use kplab::engine::runtime::DockerRuntime;
use kplab::web::state::AppState;
use kplab_testkit::html::{all, one, sel, text};
use scraper::{ElementRef, Html};
use web_support::{repo, Client};

const HOSTILE: &str = "\n\n<script>window.kplabPwned = 1</script>\n\n\
<img src=\"x\" onerror=\"window.kplabPwned = 2\">\n\n\
[a bad link](javascript:alert(1))\n\n\
<div onclick=\"alert(1)\" style=\"position:fixed\">clickjack</div>\n";

fn attr<'a>(e: ElementRef<'a>, name: &str) -> &'a str {
    e.value()
        .attr(name)
        .unwrap_or_else(|| panic!("no {name} on {}", e.html()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A server over a copy of the labs whose first step of `00-hello` ends in hostile HTML.
struct Site {
    addr: std::net::SocketAddr,
    state: AppState,
    labs: PathBuf,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Site {
    async fn start(prefix: &str) -> Site {
        let content = tempfile::tempdir().unwrap();
        let labs = content.path().join("labs");
        copy_dir(&repo().join("labs"), &labs);
        let step = labs.join("00-hello/01-meet-the-cluster.md");
        let mut md = std::fs::read_to_string(&step).unwrap();
        md.push_str(HOSTILE);
        std::fs::write(&step, md).unwrap();
        let data = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_path_buf(),
            labs: labs.clone(),
            static_dir: repo().join("static"),
            max_labs: 2,
            idle_secs: 600,
            sweep_secs: 3600,
            request_timeout_secs: 60,
            lab_prefix: prefix.into(),
            image: kplab::sandbox::plan::DEFAULT_IMAGE.into(),
        };
        let config = Config::from_args(args, None).unwrap();
        let docker = DockerRuntime::connect(&config.image)
            .await
            .expect("Docker must be running (this test needs Docker)");
        docker.prepare().await.expect("host isolation + node image");
        let state = kplab::web::build_state(config, Arc::new(docker))
            .await
            .expect("the hostile copy of the content is still valid content");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let task = tokio::spawn(async move {
            kplab::web::serve(listener, st, async move {
                let _ = rx.await;
            })
            .await
        });
        Site {
            addr,
            state,
            labs,
            _dirs: (content, data),
            stop,
            task,
        }
    }

    async fn shutdown(self) {
        let prefix = self.state.config.lab_prefix.clone();
        for sb in self.state.runtime.list(&prefix).await.unwrap_or_default() {
            let _ = self.state.runtime.down(&sb.name).await;
        }
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

async fn page(c: &mut Client, path: &str) -> Html {
    let r = c.get(path).await;
    assert_eq!(r.status, 200, "{path}: {r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{r:?}"
    );
    Html::parse_document(&r.body)
}

/// Every script element of a page is one of ours, loaded from /static/.
fn only_our_scripts(doc: &Html) {
    for s in all(doc, "script") {
        let src = s.value().attr("src").unwrap_or("");
        assert!(
            src.starts_with("/static/"),
            "a script that is not ours: {}",
            s.html()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker and root"]
async fn pages_have_the_structure_learners_rely_on() {
    let site = Site::start("wb-h-").await;
    let catalog = labkit::Catalog::load(&site.labs).unwrap();
    let hello = catalog.lab("00-hello").unwrap().clone();
    let result = std::panic::AssertUnwindSafe(check_pages(&site, &catalog, &hello));
    let outcome = futures_util::FutureExt::catch_unwind(result).await;
    site.shutdown().await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

async fn check_pages(site: &Site, catalog: &labkit::Catalog, hello: &labkit::Lab) {
    let mut c = Client::new(site.addr);

    // The catalog: a card per lab, in order, each with its title as a link to its page.
    let doc = page(&mut c, "/").await;
    let cards = all(&doc, "ul.catalog > li.lab-card");
    assert_eq!(cards.len(), catalog.labs.len(), "{}", doc.html());
    for (card, lab) in cards.iter().zip(&catalog.labs) {
        assert_eq!(attr(*card, "data-lab"), lab.id);
        let links: Vec<_> = card.select(&sel("a.lab-link")).collect();
        assert_eq!(links.len(), 1, "{}", card.html());
        assert_eq!(attr(links[0], "href"), format!("/labs/{}", lab.id));
        assert_eq!(text(links[0]), lab.title);
        // The tasks that complete the lab: an optional step's do not count.
        let total = lab.required_tasks().count();
        let progress = card.select(&sel("p.progress")).next().unwrap();
        assert_eq!(text(progress), format!("0 of {total} tasks done"));
        assert!(card.select(&sel(".badge")).next().is_none(), "no lab yet");
    }
    only_our_scripts(&doc);

    // A lab page before any lab: step text, tasks, code buttons, tabs, the start button.
    let doc = page(&mut c, "/labs/00-hello").await;
    let step = &hello.steps[0];
    assert_eq!(
        text(one(&doc, "h2.step-title")),
        format!("Step 1 of {}: {}", hello.steps.len(), step.title)
    );
    // The title once: the step's own `# Title` is not repeated in its text.
    assert!(
        all(&doc, "article.step-body h1")
            .iter()
            .all(|h| text(*h) != step.title),
        "the step title twice"
    );
    let body = one(&doc, "article.step-body");
    let prose = text(body);
    assert!(
        prose.contains("Then list them:"),
        "the step's text is on the page: {prose}"
    );
    let step_links = all(&doc, "nav.steps button.step-link");
    assert_eq!(step_links.len(), hello.steps.len());
    assert_eq!(
        all(&doc, "nav.steps button.step-link.current").len(),
        1,
        "one current step"
    );
    let tabs: Vec<String> = all(&doc, ".terminal-box .tabs button.tab")
        .into_iter()
        .map(|t| attr(t, "data-host").to_string())
        .collect();
    assert_eq!(tabs, hello.hosts(), "a tab per host");
    for t in all(&doc, ".terminal-box .tabs button.tab") {
        assert_eq!(text(t), attr(t, "data-host"));
    }
    let tasks = all(&doc, "ol.tasks > li.task");
    assert_eq!(tasks.len(), step.tasks.len());
    for (li, task) in tasks.iter().zip(&step.tasks) {
        assert_eq!(attr(*li, "data-task"), task.id);
        assert_eq!(attr(*li, "id"), format!("task-{}", task.id));
        let title = li.select(&sel(".task-title")).next().unwrap();
        assert_eq!(text(title), task.title);
        let buttons: Vec<_> = li.select(&sel("button.check")).collect();
        assert_eq!(buttons.len(), 1, "{}", li.html());
        assert_eq!(text(buttons[0]), "Check");
        // Inside the task's form: Enter in the answer box checks too.
        assert_eq!(attr(buttons[0], "type"), "submit");
        assert_eq!(
            li.select(&sel("form.task-form button.check")).count(),
            1,
            "{}",
            li.html()
        );
        // A hint button where the task has hints, the hints hidden until asked for.
        assert_eq!(
            li.select(&sel("button.hint-button")).count(),
            usize::from(!task.hints().is_empty()),
            "{}",
            li.html()
        );
        for h in li.select(&sel(".hint.level")) {
            assert!(h.value().attr("hidden").is_some(), "{}", h.html());
        }
        let answer = li.select(&sel("input[name=answer]")).count();
        assert_eq!(
            answer,
            usize::from(task.question().is_some()),
            "{}",
            li.html()
        );
    }
    // Code blocks: a copy button on every one, a run button on each block marked `run`.
    let fences: Vec<Option<Option<&str>>> = step
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("```"))
        .filter(|info| !info.trim().is_empty())
        .map(labkit::content::run_marker)
        .collect();
    let blocks = all(&doc, "article.step-body div.code");
    assert!(!blocks.is_empty());
    assert_eq!(
        blocks.len(),
        all(&doc, "article.step-body pre > code").len(),
        "every code block is wrapped with its buttons"
    );
    let marked: Vec<Option<&str>> = fences.iter().filter_map(|m| *m).collect();
    let runs = all(&doc, "article.step-body div.code button.run");
    assert_eq!(runs.len(), marked.len(), "{}", body.html());
    for (b, host) in runs.iter().zip(&marked) {
        assert_eq!(attr(*b, "data-host"), host.unwrap_or(""));
        assert!(text(*b).starts_with("Run in terminal"), "{}", b.html());
    }
    for block in &blocks {
        let copies: Vec<_> = block.select(&sel(".code-buttons button.copy")).collect();
        assert_eq!(copies.len(), 1, "{}", block.html());
        assert_eq!(text(copies[0]), "Copy");
        assert!(!text(block.select(&sel("code")).next().unwrap()).is_empty());
    }
    // The hostile markdown: no script, no event handlers, no javascript: link survive; the
    // harmless parts (the image, the link text) do.
    assert!(
        all(&doc, "article.step-body script").is_empty(),
        "{}",
        body.html()
    );
    for e in body.descendants().filter_map(ElementRef::wrap) {
        for (name, value) in e.value().attrs() {
            assert!(
                !name.starts_with("on") && name != "style",
                "attribute {name}={value:?} survived: {}",
                e.html()
            );
            assert!(!value.contains("javascript:"), "{}", e.html());
        }
    }
    assert!(!body.html().contains("kplabPwned"), "{}", body.html());
    assert_eq!(all(&doc, "article.step-body img[src=x]").len(), 1);
    assert!(prose.contains("a bad link") && prose.contains("clickjack"));
    only_our_scripts(&doc);
    // No lab yet: a start button, no terminal session, no countdown.
    assert_eq!(
        text(one(
            &doc,
            "form[action='/labs/00-hello/start'] button#start"
        )),
        "Start lab"
    );
    assert!(one(&doc, "#lab").value().attr("data-session").is_none());
    assert!(all(&doc, "#countdown").is_empty());

    // A running lab: status, the idle countdown and the extend button, reset and stop.
    let id = c.start_lab("00-hello", Duration::from_secs(120)).await;
    let r = c
        .post_json(
            &format!("/api/sessions/{id}/tasks/count-nodes/check"),
            &format!(r#"{{"answer":"{}"}}"#, hello.nodes),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["passed"], true, "{}", r.body);
    let doc = page(&mut c, "/labs/00-hello").await;
    let lab = one(&doc, "#lab");
    assert_eq!(attr(lab, "data-session"), id);
    assert_eq!(attr(lab, "data-status"), "running");
    assert_eq!(
        text(one(&doc, ".controls #status.badge.running")),
        "running"
    );
    // mm:ss, as the page's script keeps it.
    let shown = text(one(&doc, ".countdown #countdown"));
    let (m, sec) = shown.split_once(':').expect("m:ss");
    assert_eq!(sec.len(), 2, "{shown}");
    let left: u64 = m.parse::<u64>().unwrap() * 60 + sec.parse::<u64>().unwrap();
    let idle = site.state.config.idle.as_secs();
    assert!(left > 0 && left <= idle, "{left} of {idle}");
    assert_eq!(attr(lab, "data-expires-in").parse::<u64>().unwrap(), left);
    assert_eq!(
        text(one(
            &doc,
            "form[action='/labs/00-hello/extend'] button#extend"
        )),
        "Extend"
    );
    let scopes: Vec<&str> = all(
        &doc,
        "form[action='/labs/00-hello/reset'] input[name=scope]",
    )
    .into_iter()
    .map(|i| attr(i, "value"))
    .collect();
    assert_eq!(scopes, ["step", "lab"]);
    one(&doc, "form[action='/labs/00-hello/stop'] button#stop");
    assert!(all(&doc, "button#start, button#restart").is_empty());
    // The task just checked is passed, with its check listed as ok.
    let li = one(&doc, "li#task-count-nodes");
    assert!(li.value().classes().any(|c| c == "passed"), "{}", li.html());
    assert_eq!(
        text(li.select(&sel(".task-state")).next().unwrap()),
        "passed"
    );
    assert!(
        li.select(&sel(".result ul.checks > li.ok")).count() >= 1,
        "{}",
        li.html()
    );
    assert_eq!(li.select(&sel(".result li.fail")).count(), 0);
    let other = one(&doc, "li#task-create-web");
    assert!(!other.value().classes().any(|c| c == "passed"));
    assert_eq!(text(other.select(&sel(".task-state")).next().unwrap()), "");
    // The catalog shows the running lab and the progress.
    let doc = page(&mut c, "/").await;
    let card = one(&doc, "li.lab-card[data-lab='00-hello']");
    assert_eq!(
        text(card.select(&sel(".badge.running")).next().unwrap()),
        "running"
    );
    let total = hello.required_tasks().count();
    assert_eq!(
        text(card.select(&sel("p.progress")).next().unwrap()),
        format!("1 of {total} tasks done")
    );
    // Another learner sees none of it.
    let mut other = Client::new(site.addr);
    let doc = page(&mut other, "/").await;
    let card = one(&doc, "li.lab-card[data-lab='00-hello']");
    assert!(card.select(&sel(".badge")).next().is_none());
    assert_eq!(
        text(card.select(&sel("p.progress")).next().unwrap()),
        format!("0 of {total} tasks done")
    );

    // The lab's container killed from outside: the page says so and offers a restart.
    let sandbox = site
        .state
        .store
        .session(&id)
        .await
        .unwrap()
        .unwrap()
        .sandbox;
    let killed = std::process::Command::new("docker")
        .args(["kill", &format!("kplab-{sandbox}-node-2")])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    kplab::domain::lifecycle::sweep(&site.state).await.unwrap();
    let doc = page(&mut c, "/labs/00-hello").await;
    assert_eq!(attr(one(&doc, "#lab"), "data-status"), "lost");
    assert!(text(one(&doc, "p.lost#lost")).starts_with("Your lab stopped working"));
    assert_eq!(
        text(one(
            &doc,
            "form[action='/labs/00-hello/start'] button#restart"
        )),
        "Restart lab"
    );
    assert!(all(&doc, "#countdown, #extend, #stop, button#start").is_empty());
    // Progress is still shown.
    let li = one(&doc, "li#task-count-nodes");
    assert!(li.value().classes().any(|c| c == "passed"));
}
