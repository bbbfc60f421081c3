//! Switching kube-proxy's mode for lab content (`proxyMode`, `kplab::engine::proxy_mode`) over
//! the fake lab runtime: the commands a step's setup issues, the wait for the nodes, the
//! error paths, and `kplab labs test` doing the same. A small model of the lab answers the
//! commands: the ConfigMap (with its resourceVersion), and per node the rules its kube-proxy
//! left, which turn to the ConfigMap's mode a few looks after its pod was deleted.
//! No Docker, no root: `cargo test -p kplab --test proxy_mode_fake`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kplab::engine::proxy_mode::{ensure_proxy_mode, Switch, SWITCH_TIMEOUT};
use kplab::engine::runtime::Output;
use kplab::engine::setup::run_setup;
use kplab_testkit::fake::FakeRuntime;
use labkit::{Catalog, Lab, ProxyMode};

/// kubeadm's `config.conf`, shortened, with a learner's edit that a switch must keep.
const CONFIG: &str = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nclusterCIDR: 10.244.0.0/16 # the learner was here\nkind: KubeProxyConfiguration\nmode: iptables\nnftables:\n  masqueradeAll: false\n";

/// The kube-proxy rules a node shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    Of(ProxyMode),
    /// Both modes' rules (left over from a learner's experiment).
    Both,
    /// Neither: kube-proxy is starting.
    None,
}

#[derive(Debug)]
struct Node {
    rules: Rules,
    /// Looks left until a restarted kube-proxy shows the ConfigMap's mode.
    restart_in: Option<u32>,
    /// Never comes back (the error path).
    stuck: bool,
}

#[derive(Debug)]
struct Model {
    config: String,
    version: u64,
    nodes: BTreeMap<String, Node>,
    /// The next patches fail with a conflict, and the learner's edit lands meanwhile.
    conflicts: u32,
    /// How many looks a restart takes.
    restart_looks: u32,
}

impl Model {
    fn mode(&self) -> ProxyMode {
        if self.config.contains("\nmode: nftables\n") {
            ProxyMode::Nftables
        } else {
            ProxyMode::Iptables
        }
    }
}

fn out(code: i64, stdout: &str, stderr: &str) -> Output {
    Output {
        code,
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
    }
}

/// A fake runtime with lab `sb` of `nodes` nodes whose kube-proxy runs in iptables mode.
fn lab_model(sb: &str, nodes: u8) -> (Arc<FakeRuntime>, Arc<Mutex<Model>>) {
    let rt = FakeRuntime::new();
    rt.add_lab(sb, nodes);
    let model = Arc::new(Mutex::new(Model {
        config: CONFIG.to_string(),
        version: 100,
        nodes: (1..=nodes)
            .map(|n| {
                (
                    format!("node-{n}"),
                    Node {
                        rules: Rules::Of(ProxyMode::Iptables),
                        restart_in: None,
                        stuck: false,
                    },
                )
            })
            .collect(),
        conflicts: 0,
        restart_looks: 2,
    }));
    let m = model.clone();
    rt.on_exec_with("get configmap kube-proxy", move |_, _| {
        let m = m.lock().unwrap();
        let cm = serde_json::json!({
            "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "resourceVersion": m.version.to_string()},
            "data": {"config.conf": m.config, "kubeconfig.conf": "apiVersion: v1\n"},
        });
        out(0, &cm.to_string(), "")
    });
    let m = model.clone();
    rt.on_exec_with("patch configmap kube-proxy", move |_, line| {
        let mut m = m.lock().unwrap();
        let patch: serde_json::Value =
            serde_json::from_str(line.split_once(" -p ").unwrap().1).unwrap();
        if m.conflicts > 0 {
            m.conflicts -= 1;
            m.config = m.config.replace("masqueradeAll: false", "masqueradeAll: true");
            m.version += 1;
        }
        if patch["metadata"]["resourceVersion"].as_str() != Some(m.version.to_string().as_str()) {
            return out(1, "", "Error from server (Conflict): Operation cannot be fulfilled on configmaps \"kube-proxy\": the object has been modified; please apply your changes to the latest version and try again");
        }
        m.config = patch["data"]["config.conf"].as_str().unwrap().to_string();
        m.version += 1;
        out(0, "configmap/kube-proxy patched\n", "")
    });
    let m = model.clone();
    rt.on_exec_with("delete pod -l k8s-app=kube-proxy", move |_, _| {
        let mut m = m.lock().unwrap();
        let looks = m.restart_looks;
        for n in m.nodes.values_mut() {
            n.restart_in = Some(looks);
        }
        out(0, "pod \"kube-proxy-abcde\" deleted\n", "")
    });
    let m = model.clone();
    rt.on_exec_with("KUBE-SERVICES", move |host, _| {
        let mut m = m.lock().unwrap();
        let mode = m.mode();
        let n = m.nodes.get_mut(host).unwrap();
        if let Some(left) = n.restart_in {
            if left == 0 && !n.stuck {
                n.rules = Rules::Of(mode);
                n.restart_in = None;
            } else {
                // Between the old kube-proxy's exit and the new one's first sync.
                if left == 1 && !n.stuck {
                    n.rules = Rules::None;
                }
                n.restart_in = Some(left.saturating_sub(1));
            }
        }
        let (nft, ipt) = match n.rules {
            Rules::Of(ProxyMode::Nftables) => (1, 0),
            Rules::Of(ProxyMode::Iptables) => (0, 1),
            Rules::Both => (1, 1),
            Rules::None => (0, 0),
        };
        out(0, &format!("nft={nft} iptables={ipt}\n"), "")
    });
    (rt, model)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// A two-node lab: `lab_front` is added to `lab.md`; step 1 names no mode, step 2 sets
/// `proxyMode: nftables`, step 3 names none (so stays in nftables). Each step's setup echoes
/// its number.
fn load_lab(root: &Path, lab_front: &str) -> Lab {
    let dir = root.join("70-modes");
    write(
        &dir,
        "lab.md",
        &format!("---\ntitle: Modes\nnodes: 2\nminutes: 10\n{lab_front}---\n"),
    );
    for (n, extra) in [(1, ""), (2, "proxyMode: nftables\n"), (3, "")] {
        write(
            &dir,
            &format!("0{n}-s.md"),
            &format!("---\ntitle: Step {n}\n{extra}setup:\n  - echo setup {n}\n---\n"),
        );
    }
    Catalog::load(root)
        .unwrap_or_else(|d| panic!("{d}"))
        .labs
        .remove(0)
}

const PROBE_LINE: &str = "KUBE-SERVICES";

/// The commands run, shortened: `probe node-N` for a look at a node's rules, the kubectl verb
/// for the others.
fn script(rt: &FakeRuntime, sb: &str) -> Vec<String> {
    rt.calls()
        .iter()
        .filter_map(|c| match c {
            kplab_testkit::fake::Call::Exec {
                sandbox,
                host,
                argv,
            } if sandbox == sb => {
                let line = argv.join(" ");
                Some(if line.contains(PROBE_LINE) {
                    format!("probe {host}")
                } else if line.contains("get configmap") {
                    format!("get-cm {host}")
                } else if line.contains("patch configmap") {
                    format!("patch-cm {host}")
                } else if line.contains("delete pod") {
                    format!("delete-pods {host}")
                } else {
                    format!("{line} @{host}")
                })
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn entering_a_nftables_step_switches_every_node_before_its_setup() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = load_lab(tmp.path(), "");
    let (rt, model) = lab_model("pm-a", 2);

    // Step 1 names no mode, but a later step does: it runs in iptables, which the nodes do.
    run_setup(rt.as_ref(), &lab, "pm-a", 0).await.unwrap();
    assert_eq!(
        script(&rt, "pm-a"),
        [
            "get-cm node-1",
            "probe node-1",
            "probe node-2",
            "sh -c echo setup 1 @node-1"
        ]
    );

    // Step 2: the ConfigMap's mode, kube-proxy's pods, a wait until both nodes show the
    // nftables table alone, then the step's setup.
    let t0 = std::time::Instant::now();
    run_setup(rt.as_ref(), &lab, "pm-a", 1).await.unwrap();
    let all = script(&rt, "pm-a");
    let s = &all[4..];
    assert_eq!(
        &s[..5],
        [
            "get-cm node-1",
            "probe node-1",
            "probe node-2",
            "patch-cm node-1",
            "delete-pods node-1"
        ],
        "{s:?}"
    );
    assert_eq!(s.last().unwrap(), "sh -c echo setup 2 @node-1");
    let waits = &s[5..s.len() - 1];
    assert!(
        waits.len() >= 6 && waits.iter().all(|w| w.starts_with("probe node-")),
        "polled the nodes until they switched: {waits:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    {
        let m = model.lock().unwrap();
        assert_eq!(
            m.config,
            CONFIG.replace("mode: iptables", "mode: nftables"),
            "only the mode line changed"
        );
        assert!(m
            .nodes
            .values()
            .all(|n| n.rules == Rules::Of(ProxyMode::Nftables)));
    }

    // The patch is a merge patch of config.conf alone, guarded by the resourceVersion read.
    let patch = rt
        .commands("pm-a")
        .into_iter()
        .find(|c| c.contains("patch configmap"))
        .unwrap();
    assert!(
        patch.starts_with("kubectl -n kube-system patch configmap kube-proxy --type=merge -p {"),
        "{patch}"
    );
    assert!(patch.contains("\"resourceVersion\":\"100\""), "{patch}");
    let delete = rt
        .commands("pm-a")
        .into_iter()
        .find(|c| c.contains("delete pod"))
        .unwrap();
    assert_eq!(
        delete,
        "kubectl -n kube-system delete pod -l k8s-app=kube-proxy --wait=false"
    );

    // Step 3 inherits nftables: a look, nothing to do. A reset of step 3: the same.
    for _ in 0..2 {
        let before = script(&rt, "pm-a").len();
        run_setup(rt.as_ref(), &lab, "pm-a", 2).await.unwrap();
        assert_eq!(
            script(&rt, "pm-a")[before..],
            [
                "get-cm node-1",
                "probe node-1",
                "probe node-2",
                "sh -c echo setup 3 @node-1"
            ]
        );
    }

    // Back to step 1: back to iptables.
    let before = script(&rt, "pm-a").len();
    run_setup(rt.as_ref(), &lab, "pm-a", 0).await.unwrap();
    let s = script(&rt, "pm-a")[before..].to_vec();
    assert!(s.contains(&"patch-cm node-1".to_string()), "{s:?}");
    assert!(s.contains(&"delete-pods node-1".to_string()), "{s:?}");
    assert_eq!(model.lock().unwrap().config, CONFIG);
    assert!(model
        .lock()
        .unwrap()
        .nodes
        .values()
        .all(|n| n.rules == Rules::Of(ProxyMode::Iptables)));
}

#[tokio::test]
async fn a_lab_that_names_no_mode_leaves_kube_proxy_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("71-plain");
    write(&dir, "lab.md", "---\ntitle: Plain\nminutes: 10\n---\n");
    write(
        &dir,
        "01-s.md",
        "---\ntitle: S\nsetup:\n  - echo plain\n---\n",
    );
    let lab = Catalog::load(tmp.path()).unwrap().labs.remove(0);
    let (rt, _) = lab_model("pm-b", 2);
    run_setup(rt.as_ref(), &lab, "pm-b", 0).await.unwrap();
    assert_eq!(script(&rt, "pm-b"), ["sh -c echo plain @node-1"]);
}

#[tokio::test]
async fn the_lab_wide_mode_applies_from_the_lab_start() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = load_lab(tmp.path(), "proxyMode: nftables\n");
    assert_eq!(lab.proxy_mode_at(0), Some(ProxyMode::Nftables));
    let (rt, model) = lab_model("pm-c", 2);
    run_setup(rt.as_ref(), &lab, "pm-c", 0).await.unwrap();
    assert_eq!(model.lock().unwrap().mode(), ProxyMode::Nftables);
    assert!(script(&rt, "pm-c").contains(&"delete-pods node-1".to_string()));
}

#[tokio::test]
async fn a_node_that_does_not_switch_is_named_when_the_wait_ends() {
    let (rt, model) = lab_model("pm-d", 3);
    model.lock().unwrap().nodes.get_mut("node-2").unwrap().stuck = true;
    let t0 = std::time::Instant::now();
    let e = ensure_proxy_mode(
        rt.as_ref(),
        "pm-d",
        3,
        ProxyMode::Nftables,
        Duration::from_millis(800),
    )
    .await
    .unwrap_err();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(
        format!("{e:#}"),
        "kube-proxy did not switch to nftables mode within 0.8 s on node-2 (nftables table ip kube-proxy absent, iptables nat chain KUBE-SERVICES present)"
    );
}

#[tokio::test]
async fn a_failing_kubectl_fails_the_setup_before_its_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = load_lab(tmp.path(), "");
    let (rt, _) = lab_model("pm-e", 2);
    rt.on_exec_output(
        "get configmap kube-proxy",
        out(
            1,
            "",
            "Error from server (NotFound): configmaps \"kube-proxy\" not found",
        ),
    );
    let e = run_setup(rt.as_ref(), &lab, "pm-e", 1).await.unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.starts_with("step 02-s: kube-proxy in nftables mode: reading the kube-system/kube-proxy ConfigMap on node-1"),
        "{msg}"
    );
    assert!(msg.contains("configmaps \"kube-proxy\" not found"), "{msg}");
    assert!(
        !script(&rt, "pm-e").iter().any(|c| c.contains("echo setup")),
        "the step's setup did not run"
    );

    // A failing patch names what it was setting.
    let (rt, _) = lab_model("pm-f", 2);
    rt.on_exec_output(
        "patch configmap kube-proxy",
        out(1, "", "Error from server (Forbidden): nope"),
    );
    let e = ensure_proxy_mode(rt.as_ref(), "pm-f", 2, ProxyMode::Nftables, SWITCH_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        "setting mode: nftables in the kube-system/kube-proxy ConfigMap on node-1 exited 1: Error from server (Forbidden): nope"
    );
}

#[tokio::test]
async fn a_concurrent_edit_of_the_config_map_is_kept() {
    let (rt, model) = lab_model("pm-g", 2);
    model.lock().unwrap().conflicts = 1;
    let switched = ensure_proxy_mode(rt.as_ref(), "pm-g", 2, ProxyMode::Nftables, SWITCH_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(switched, Switch::Switched);
    let m = model.lock().unwrap();
    assert_eq!(
        m.config,
        CONFIG
            .replace("mode: iptables", "mode: nftables")
            .replace("masqueradeAll: false", "masqueradeAll: true")
    );
    let cmds = script(&rt, "pm-g");
    assert_eq!(
        cmds.iter().filter(|c| c.starts_with("patch-cm")).count(),
        2,
        "{cmds:?}"
    );
}

#[tokio::test]
async fn rules_of_the_other_mode_restart_kube_proxy_and_a_starting_one_is_waited_for() {
    // The ConfigMap already says nftables; node-1 is still starting (no rules yet), node-2
    // has leftovers of both modes: no patch, a restart, a wait.
    let (rt, model) = lab_model("pm-h", 2);
    {
        let mut m = model.lock().unwrap();
        m.config = CONFIG.replace("mode: iptables", "mode: nftables");
        m.nodes.get_mut("node-1").unwrap().rules = Rules::None;
        m.nodes.get_mut("node-2").unwrap().rules = Rules::Both;
    }
    assert_eq!(
        ensure_proxy_mode(rt.as_ref(), "pm-h", 2, ProxyMode::Nftables, SWITCH_TIMEOUT)
            .await
            .unwrap(),
        Switch::Switched
    );
    let cmds = script(&rt, "pm-h");
    assert!(!cmds.iter().any(|c| c.starts_with("patch-cm")), "{cmds:?}");
    assert_eq!(cmds[3], "delete-pods node-1", "{cmds:?}");

    // Only starting, nothing of the other mode: waited for, not restarted.
    let (rt, model) = lab_model("pm-i", 2);
    {
        let mut m = model.lock().unwrap();
        let n = m.nodes.get_mut("node-2").unwrap();
        n.rules = Rules::None;
        n.restart_in = Some(1);
    }
    assert_eq!(
        ensure_proxy_mode(rt.as_ref(), "pm-i", 2, ProxyMode::Iptables, SWITCH_TIMEOUT)
            .await
            .unwrap(),
        Switch::Synced
    );
    assert_eq!(
        ensure_proxy_mode(rt.as_ref(), "pm-i", 2, ProxyMode::Iptables, SWITCH_TIMEOUT)
            .await
            .unwrap(),
        Switch::Unchanged
    );
    let cmds = script(&rt, "pm-i");
    assert!(
        !cmds
            .iter()
            .any(|c| c.starts_with("patch-cm") || c.starts_with("delete-pods")),
        "{cmds:?}"
    );
}

#[tokio::test]
async fn labs_test_switches_before_the_setup_and_reports_it() {
    use kplab::labs::test::{render_lab, test_lab, Options};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("72-nft");
    write(
        &dir,
        "lab.md",
        "---\ntitle: Nft\nnodes: 2\nminutes: 10\n---\n",
    );
    write(
        &dir,
        "01-nft.md",
        "---\ntitle: In nftables\nproxyMode: nftables\nsetup:\n  - echo setup\ntasks:\n  - id: done\n    title: Done\n    checks:\n      - kind: command\n        host: node-1\n        run: test -f /tmp/done\nsolution:\n  - touch /tmp/done\n---\n",
    );
    let lab = Catalog::load(tmp.path()).unwrap().labs.remove(0);
    let (rt, model) = lab_model("unused", 2);
    // The lab test starts its own lab: the model's nodes stand for it.
    let done = Arc::new(Mutex::new(false));
    let d = done.clone();
    rt.on_exec_with("touch /tmp/done", move |_, _| {
        *d.lock().unwrap() = true;
        out(0, "", "")
    });
    let d = done.clone();
    rt.on_exec_with("test -f /tmp/done", move |_, _| {
        out(if *d.lock().unwrap() { 0 } else { 1 }, "", "")
    });
    let options = Options {
        settle: Duration::from_secs(1),
        ..Options::default()
    };
    let run = test_lab(rt.as_ref(), &lab, "lt-72-nft-0001", &options).await;
    assert!(run.passed, "{}", render_lab(&run));
    let step = &run.steps[0];
    assert_eq!(step.commands[0].what, "proxy");
    assert_eq!(step.commands[0].run, "kube-proxy mode: nftables");
    assert_eq!(step.commands[0].stdout, "switched");
    assert_eq!(step.commands[1].what, "setup");
    assert_eq!(model.lock().unwrap().mode(), ProxyMode::Nftables);
    assert!(render_lab(&run).contains("proxy     ok   node-1: kube-proxy mode: nftables"));

    // A node that never switches fails the step, names the node, and stops the lab's run.
    let (rt, model) = lab_model("unused", 2);
    model.lock().unwrap().nodes.get_mut("node-2").unwrap().stuck = true;
    let options = Options {
        settle: Duration::from_secs(1),
        command_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let run = test_lab(rt.as_ref(), &lab, "lt-72-nft-0002", &options).await;
    assert!(!run.passed);
    let p = run.steps[0].problems.join("\n");
    assert!(
        p.contains("01-nft.md: switching kube-proxy to nftables mode failed: timed out after 1 s"),
        "{p}"
    );
    assert!(!run.steps[0].commands.iter().any(|c| c.what == "setup"));
}
