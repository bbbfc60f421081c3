//! The controller manager and the scheduler against an in-process API server, with a small
//! fake kubelet (in this file) that gives bound pods an IP and Ready, and finishes the
//! deletion of terminating pods unless told to hold them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::controllers;
use kplab_agent::kube::client::{
    ApiClient, KubeObject, DEPLOYMENTS, ENDPOINTS, ENDPOINT_SLICES, EVENTS, NODES, PODS,
    REPLICA_SETS, SERVICES,
};
use serde_json::{json, Value};

struct Lab {
    server: Option<EmbeddedServer>,
    client: ApiClient,
    stop: Arc<AtomicBool>,
    /// Terminating pods the fake kubelet leaves alone.
    hold: Arc<Mutex<BTreeSet<String>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn node(name: &str, control_plane: bool) -> Value {
    let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    json!({"metadata":{"name":name,"labels":labels},"spec":{},
           "status":{"conditions":[{"type":"Ready","status":"True"}]}})
}

fn fake_kubelet(client: ApiClient, stop: Arc<AtomicBool>, hold: Arc<Mutex<BTreeSet<String>>>) {
    let mut next = 2u32;
    while !stop.load(Ordering::Acquire) {
        if let Ok(list) = client.list(&PODS, None, None, None) {
            for p in list.items {
                let node = p
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if node.is_empty() {
                    continue;
                }
                if p.is_terminating() {
                    if !hold.lock().unwrap().contains(p.name()) {
                        let _ = client.delete(&PODS, p.namespace(), p.name(), Some(0));
                    }
                    continue;
                }
                if p.pointer("/status/podIP").is_none() {
                    let n = node.trim_start_matches("node-");
                    let ip = format!("10.244.{n}.{next}");
                    next += 1;
                    let mut s = p.clone();
                    s["status"] = json!({"phase":"Running","podIP":ip,"podIPs":[{"ip":ip}],
                        "conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]});
                    let _ = client.update_status(&PODS, p.namespace(), p.name(), &s);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(dir.path(), Config::default()).unwrap();
    let client = server.client();
    client.create(&NODES, None, &node("node-1", true)).unwrap();
    client.create(&NODES, None, &node("node-2", false)).unwrap();
    controllers::start_controller_manager(client.clone(), true);
    controllers::start_scheduler(client.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let hold = Arc::new(Mutex::new(BTreeSet::new()));
    {
        let (c, s, h) = (client.clone(), stop.clone(), hold.clone());
        std::thread::spawn(move || fake_kubelet(c, s, h));
    }
    Lab {
        server: Some(server),
        client,
        stop,
        hold,
        _dir: dir,
    }
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":name},
        "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":name}},
          "template":{"metadata":{"labels":{"app":name}},
            "spec":{"containers":[{"name":"echo","image":"kplab/echo:1","ports":[{"name":"http","containerPort":8080}]}]}}}})
}

fn slice_of(c: &ApiClient, svc: &str) -> Option<Value> {
    let l = c
        .list(
            &ENDPOINT_SLICES,
            Some("default"),
            Some(&format!("kubernetes.io/service-name={svc}")),
            None,
        )
        .ok()?;
    (l.items.len() == 1).then(|| l.items[0].clone())
}

fn endpoint_count(slice: &Value, pred: impl Fn(&Value) -> bool) -> usize {
    slice
        .get("endpoints")
        .and_then(Value::as_array)
        .map_or(0, |e| e.iter().filter(|e| pred(&e["conditions"])).count())
}

fn is_alnum_safe(s: &str) -> bool {
    s.bytes()
        .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
}

#[test]
fn deployment_pods_spread_and_endpoints_follow_scaling() {
    let lab = lab();
    let c = &lab.client;
    c.create(&DEPLOYMENTS, None, &deployment("web", 3)).unwrap();
    c.create(&SERVICES, None, &json!({"metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http"}]}})).unwrap();

    let slice = wait_for("3 ready endpoints", Duration::from_secs(10), || {
        slice_of(c, "web").filter(|s| endpoint_count(s, |c| c["ready"] == true) == 3)
    });
    assert!(
        slice.name().starts_with("web-") && slice.name().len() == 9,
        "{}",
        slice.name()
    );
    assert_eq!(
        slice.labels()["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["ports"],
        json!([{"name":"http","port":8080,"protocol":"TCP"}])
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    let ep0 = &slice["endpoints"][0];
    assert_eq!(ep0["targetRef"]["kind"], "Pod");
    assert!(ep0["nodeName"].as_str().unwrap().starts_with("node-"));

    let pods = c
        .list(&PODS, Some("default"), Some("app=web"), None)
        .unwrap()
        .items;
    assert_eq!(pods.len(), 3);
    let d = c.get(&DEPLOYMENTS, Some("default"), "web").unwrap();
    let rss = c
        .list(&REPLICA_SETS, Some("default"), Some("app=web"), None)
        .unwrap()
        .items;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    assert_eq!(
        rs["metadata"]["ownerReferences"][0]["uid"],
        d["metadata"]["uid"]
    );
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(
        rs["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
        true
    );
    for p in &pods {
        let parts: Vec<&str> = p.name().split('-').collect();
        assert_eq!(parts.len(), 3, "{}", p.name());
        assert_eq!(parts[0], "web");
        assert_eq!(parts[1], p.labels()["pod-template-hash"]);
        assert!(
            is_alnum_safe(parts[1]) && (6..=10).contains(&parts[1].len()),
            "{}",
            p.name()
        );
        assert!(
            is_alnum_safe(parts[2]) && parts[2].len() == 5,
            "{}",
            p.name()
        );
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["uid"],
            rs["metadata"]["uid"]
        );
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(rs.name(), format!("web-{}", parts[1]));
    }
    let on1 = pods
        .iter()
        .filter(|p| p["spec"]["nodeName"] == "node-1")
        .count();
    assert!(
        on1 == 1 || on1 == 2,
        "spread over both nodes: {on1} on node-1"
    );

    let ep = wait_for("Endpoints with 3 addresses", Duration::from_secs(5), || {
        c.get(&ENDPOINTS, Some("default"), "web")
            .ok()
            .filter(|e| e["subsets"][0]["addresses"].as_array().map_or(0, Vec::len) == 3)
    });
    assert_eq!(
        ep["subsets"][0]["ports"],
        json!([{"name":"http","port":8080,"protocol":"TCP"}])
    );
    let d = wait_for("deployment status", Duration::from_secs(5), || {
        c.get(&DEPLOYMENTS, Some("default"), "web")
            .ok()
            .filter(|d| d["status"]["availableReplicas"] == 3)
    });
    assert_eq!(d["status"]["readyReplicas"], 3);
    assert_eq!(d["status"]["updatedReplicas"], 3);
    assert_eq!(
        d["status"]["observedGeneration"],
        d["metadata"]["generation"]
    );
    assert_eq!(d["status"]["conditions"][0]["type"], "Available");
    assert_eq!(d["status"]["conditions"][0]["status"], "True");
    assert_eq!(d.annotations()["deployment.kubernetes.io/revision"], "1");

    // Scale 3 -> 5: pods, then endpoints, well under a second.
    let t = Instant::now();
    c.merge_patch(
        &DEPLOYMENTS,
        Some("default"),
        "web",
        &json!({"spec":{"replicas":5}}),
    )
    .unwrap();
    wait_for("5 ready endpoints", Duration::from_secs(5), || {
        slice_of(c, "web").filter(|s| endpoint_count(s, |c| c["ready"] == true) == 5)
    });
    let took = t.elapsed();
    eprintln!("scale 3 -> 5 to 5 ready endpoints: {took:?}");
    assert!(took < Duration::from_millis(1000), "took {took:?}");

    // Scale 5 -> 2 while the kubelet holds terminating pods: they stay in the slice as
    // terminating (ready=false, serving=true) and leave the Endpoints object.
    lab.hold.lock().unwrap().extend(
        c.list(&PODS, Some("default"), Some("app=web"), None)
            .unwrap()
            .items
            .iter()
            .map(|p| p.name().to_string()),
    );
    c.merge_patch(
        &DEPLOYMENTS,
        Some("default"),
        "web",
        &json!({"spec":{"replicas":2}}),
    )
    .unwrap();
    let s = wait_for("3 terminating endpoints", Duration::from_secs(5), || {
        slice_of(c, "web").filter(|s| endpoint_count(s, |c| c["terminating"] == true) == 3)
    });
    assert_eq!(
        endpoint_count(&s, |c| *c
            == json!({"ready":false,"serving":true,"terminating":true})),
        3
    );
    assert_eq!(
        endpoint_count(&s, |c| *c
            == json!({"ready":true,"serving":true,"terminating":false})),
        2
    );
    wait_for("2 addresses in Endpoints", Duration::from_secs(5), || {
        c.get(&ENDPOINTS, Some("default"), "web")
            .ok()
            .filter(|e| e["subsets"][0]["addresses"].as_array().map_or(0, Vec::len) == 2)
    });
    let active = c
        .list(&PODS, Some("default"), Some("app=web"), None)
        .unwrap()
        .items
        .into_iter()
        .filter(|p| !p.is_terminating())
        .count();
    assert_eq!(active, 2);
    lab.hold.lock().unwrap().clear();
    wait_for(
        "terminated pods gone from the slice",
        Duration::from_secs(5),
        || slice_of(c, "web").filter(|s| s["endpoints"].as_array().map_or(0, Vec::len) == 2),
    );
    wait_for("status replicas 2", Duration::from_secs(5), || {
        c.get(&DEPLOYMENTS, Some("default"), "web")
            .ok()
            .filter(|d| d["status"]["replicas"] == 2)
    });

    // Steady state: nothing is rewritten, even across a resync.
    std::thread::sleep(Duration::from_millis(300));
    let rv = c.list(&PODS, None, None, None).unwrap().resource_version;
    std::thread::sleep(controllers::RESYNC + Duration::from_millis(500));
    assert_eq!(
        c.list(&PODS, None, None, None).unwrap().resource_version,
        rv,
        "controllers churn"
    );

    // Deleting the Service removes its Endpoints and slices.
    c.delete(&SERVICES, Some("default"), "web", None).unwrap();
    wait_for("endpoints removed", Duration::from_secs(5), || {
        c.get(&ENDPOINTS, Some("default"), "web")
            .err()
            .filter(|e| e.is_not_found())
    });
    assert!(slice_of(c, "web").is_none());
}

#[test]
fn cluster_dns_objects_and_pinned_coredns() {
    let lab = lab();
    let c = &lab.client;
    let svc = wait_for("kube-dns", Duration::from_secs(5), || {
        c.get(&SERVICES, Some("kube-system"), "kube-dns").ok()
    });
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.10");
    let names: Vec<&str> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dns", "dns-tcp", "metrics"]);
    let d = wait_for("coredns", Duration::from_secs(5), || {
        c.get(&DEPLOYMENTS, Some("kube-system"), "coredns").ok()
    });
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/coredns/coredns:v1.11.3"
    );
    let pod = wait_for("a running coredns pod", Duration::from_secs(10), || {
        c.list(&PODS, Some("kube-system"), Some("k8s-app=kube-dns"), None)
            .ok()?
            .items
            .into_iter()
            .find(|p| p.pointer("/status/podIP").is_some())
    });
    assert!(pod.name().starts_with("coredns-"));
    assert_eq!(pod["spec"]["nodeName"], "node-1");
    let s = wait_for("kube-dns endpoints", Duration::from_secs(5), || {
        let l = c
            .list(
                &ENDPOINT_SLICES,
                Some("kube-system"),
                Some("kubernetes.io/service-name=kube-dns"),
                None,
            )
            .ok()?;
        l.items
            .into_iter()
            .find(|s| s["endpoints"].as_array().is_some_and(|e| !e.is_empty()))
    });
    assert_eq!(s["ports"].as_array().unwrap().len(), 3);
    // A deleted DNS Service comes back.
    c.delete(&SERVICES, Some("kube-system"), "kube-dns", None)
        .unwrap();
    let again = wait_for("kube-dns recreated", Duration::from_secs(8), || {
        c.get(&SERVICES, Some("kube-system"), "kube-dns").ok()
    });
    assert_eq!(again["spec"]["clusterIP"], "10.96.0.10");
}

#[test]
fn template_change_rolls_pods_and_unschedulable_pods_are_reported() {
    let lab = lab();
    let c = &lab.client;
    c.create(&DEPLOYMENTS, None, &deployment("api", 2)).unwrap();
    let first = wait_for("2 ready pods", Duration::from_secs(10), || {
        let d = c.get(&DEPLOYMENTS, Some("default"), "api").ok()?;
        (d["status"]["readyReplicas"] == 2).then_some(d)
    });
    assert_eq!(
        first.annotations()["deployment.kubernetes.io/revision"],
        "1"
    );
    let old_hash = c
        .list(&PODS, Some("default"), Some("app=api"), None)
        .unwrap()
        .items[0]
        .labels()["pod-template-hash"]
        .clone();
    c.merge_patch(&DEPLOYMENTS, Some("default"), "api", &json!({"spec":{"template":{"spec":{"containers":[{"name":"echo","image":"kplab/echo:2","ports":[{"name":"http","containerPort":8080}]}]}}}})).unwrap();
    let rolled = wait_for("rolled pods", Duration::from_secs(10), || {
        let pods = c
            .list(&PODS, Some("default"), Some("app=api"), None)
            .ok()?
            .items;
        let new: Vec<&Value> = pods
            .iter()
            .filter(|p| p.labels()["pod-template-hash"] != old_hash)
            .collect();
        (pods.len() == 2
            && new.len() == 2
            && new.iter().all(|p| p.pointer("/status/podIP").is_some()))
        .then_some(pods)
    });
    assert!(rolled
        .iter()
        .all(|p| p["spec"]["containers"][0]["image"] == "kplab/echo:2"));
    let d = wait_for("revision 2", Duration::from_secs(5), || {
        c.get(&DEPLOYMENTS, Some("default"), "api")
            .ok()
            .filter(|d| {
                d.annotations()
                    .get("deployment.kubernetes.io/revision")
                    .map(String::as_str)
                    == Some("2")
            })
    });
    assert!(!d.annotations().contains_key("kplab.dev/pod-template-hash"));
    // The old ReplicaSet stays at 0 as revision 1; the new one is revision 2.
    let rss = c
        .list(&REPLICA_SETS, Some("default"), Some("app=api"), None)
        .unwrap()
        .items;
    assert_eq!(rss.len(), 2);
    let old_rs = rss
        .iter()
        .find(|r| r.name() == format!("api-{old_hash}"))
        .unwrap();
    assert_eq!(old_rs["spec"]["replicas"], 0);
    assert_eq!(
        old_rs.annotations()["deployment.kubernetes.io/revision"],
        "1"
    );

    c.create(&PODS, None, &json!({"metadata":{"name":"nowhere"},"spec":{"nodeSelector":{"disk":"ssd"},"containers":[{"name":"c","image":"i"}]}})).unwrap();
    let p = wait_for("PodScheduled=False", Duration::from_secs(5), || {
        c.get(&PODS, Some("default"), "nowhere").ok().filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            })
        })
    });
    let cond = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap()
        .clone();
    assert_eq!(cond["reason"], "Unschedulable");
    assert_eq!(cond["message"], "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");
    // Labelling a node makes it schedulable.
    c.merge_patch(
        &NODES,
        None,
        "node-2",
        &json!({"metadata":{"labels":{"disk":"ssd"}}}),
    )
    .unwrap();
    let p = wait_for("bound to node-2", Duration::from_secs(5), || {
        c.get(&PODS, Some("default"), "nowhere")
            .ok()
            .filter(|p| p["spec"]["nodeName"] == "node-2")
    });
    assert!(p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["status"] == "True"));

    // Deleting the deployment removes its pods (graceful, then the kubelet finishes).
    c.delete(&DEPLOYMENTS, Some("default"), "api", None)
        .unwrap();
    wait_for("pods gone", Duration::from_secs(5), || {
        c.list(&PODS, Some("default"), Some("app=api"), None)
            .ok()
            .filter(|l| l.items.is_empty())
    });
}

#[test]
fn controllers_recover_when_the_api_server_restarts() {
    let lab = lab();
    let c = lab.client.clone();
    c.create(&DEPLOYMENTS, None, &deployment("db", 1)).unwrap();
    wait_for("1 ready", Duration::from_secs(10), || {
        c.get(&DEPLOYMENTS, Some("default"), "db")
            .ok()
            .filter(|d| d["status"]["readyReplicas"] == 1)
    });
    let mut lab = lab;
    let old = lab.server.take().unwrap();
    let addr = old.url().trim_start_matches("http://").to_string();
    let dir = old.data_dir().to_path_buf();
    old.stop().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    lab.server = Some(EmbeddedServer::start_at(&dir, Config::default(), &addr).unwrap());
    // The informers re-list (their watch version is older than the new server's history).
    lab.client
        .merge_patch(
            &DEPLOYMENTS,
            Some("default"),
            "db",
            &json!({"spec":{"replicas":3}}),
        )
        .unwrap();
    wait_for("3 ready after the restart", Duration::from_secs(10), || {
        lab.client
            .get(&DEPLOYMENTS, Some("default"), "db")
            .ok()
            .filter(|d| d["status"]["readyReplicas"] == 3)
    });
    let pods = lab
        .client
        .list(&PODS, Some("default"), Some("app=db"), None)
        .unwrap()
        .items;
    assert_eq!(pods.len(), 3);
}

fn events_of(c: &ApiClient, ns: &str, kind: &str, name: &str) -> Vec<Value> {
    c.list(
        &EVENTS,
        Some(ns),
        None,
        Some(&format!(
            "involvedObject.kind={kind},involvedObject.name={name}"
        )),
    )
    .map(|l| l.items)
    .unwrap_or_default()
}

fn active_pods(c: &ApiClient, selector: &str) -> Vec<Value> {
    c.list(&PODS, Some("default"), Some(selector), None)
        .unwrap()
        .items
        .into_iter()
        .filter(|p| !p.is_terminating())
        .collect()
}

fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[test]
fn rolling_update_stays_within_surge_and_unavailable_and_prunes_history() {
    let lab = lab();
    let c = &lab.client;
    let mut d = deployment("roll", 4);
    d["spec"]["strategy"] =
        json!({"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}});
    d["spec"]["revisionHistoryLimit"] = json!(1);
    c.create(&DEPLOYMENTS, None, &d).unwrap();
    wait_for("4 ready", Duration::from_secs(10), || {
        c.get(&DEPLOYMENTS, Some("default"), "roll")
            .ok()
            .filter(|d| d["status"]["availableReplicas"] == 4)
    });
    for image in ["kplab/echo:2", "kplab/echo:3"] {
        c.merge_patch(&DEPLOYMENTS, Some("default"), "roll", &json!({"spec":{"template":{"spec":{"containers":[{"name":"echo","image":image,"ports":[{"name":"http","containerPort":8080}]}]}}}})).unwrap();
        let start = Instant::now();
        loop {
            let pods = active_pods(c, "app=roll");
            assert!(
                pods.len() <= 5,
                "more than replicas + maxSurge: {}",
                pods.len()
            );
            let ready = pods.iter().filter(|p| is_ready(p)).count();
            assert!(
                ready >= 4 || start.elapsed() < Duration::from_millis(1),
                "fewer than 4 ready: {ready}"
            );
            let done = pods.len() == 4
                && pods
                    .iter()
                    .all(|p| p["spec"]["containers"][0]["image"] == image && is_ready(p));
            if done {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "rollout to {image} stalled"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let d = wait_for("rollout complete", Duration::from_secs(10), || {
        c.get(&DEPLOYMENTS, Some("default"), "roll")
            .ok()
            .filter(|d| {
                d["status"]["updatedReplicas"] == 4
                    && d["status"]["replicas"] == 4
                    && d["status"]["conditions"][1]["reason"] == "NewReplicaSetAvailable"
            })
    });
    assert_eq!(d.annotations()["deployment.kubernetes.io/revision"], "3");
    let rss = wait_for("history pruned to 1 old", Duration::from_secs(10), || {
        let l = c
            .list(&REPLICA_SETS, Some("default"), Some("app=roll"), None)
            .ok()?
            .items;
        (l.len() == 2).then_some(l)
    });
    let new = rss.iter().find(|r| r["spec"]["replicas"] == 4).unwrap();
    let old = rss.iter().find(|r| r["spec"]["replicas"] == 0).unwrap();
    assert_eq!(new.annotations()["deployment.kubernetes.io/revision"], "3");
    assert_eq!(old.annotations()["deployment.kubernetes.io/revision"], "2");
    assert_eq!(
        new.annotations()["deployment.kubernetes.io/desired-replicas"],
        "4"
    );
    assert_eq!(
        new.annotations()["deployment.kubernetes.io/max-replicas"],
        "5"
    );
    assert_eq!(
        d["status"]["conditions"][1]["message"],
        format!("ReplicaSet \"{}\" has successfully progressed.", new.name())
    );
    assert_eq!(
        d["status"]["conditions"][0]["reason"],
        "MinimumReplicasAvailable"
    );
    assert_eq!(new["status"]["readyReplicas"], 4);
    assert_eq!(new["status"]["availableReplicas"], 4);
    assert_eq!(
        new["status"]["observedGeneration"],
        new["metadata"]["generation"]
    );

    // `kubectl rollout undo` puts the old template back (client side): the old ReplicaSet is
    // reused and becomes revision 4, remembering it was revision 2.
    let mut template = old["spec"]["template"].clone();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    let mut dd = c.get(&DEPLOYMENTS, Some("default"), "roll").unwrap();
    dd["spec"]["template"] = template;
    c.replace(&DEPLOYMENTS, Some("default"), "roll", &dd)
        .unwrap();
    let back = wait_for("old ReplicaSet reused", Duration::from_secs(10), || {
        c.get(&REPLICA_SETS, Some("default"), old.name())
            .ok()
            .filter(|r| r["spec"]["replicas"] == 4 && r["status"]["availableReplicas"] == 4)
    });
    assert_eq!(back.annotations()["deployment.kubernetes.io/revision"], "4");
    assert_eq!(
        back.annotations()["deployment.kubernetes.io/revision-history"],
        "2"
    );
    wait_for("deployment at revision 4", Duration::from_secs(5), || {
        c.get(&DEPLOYMENTS, Some("default"), "roll")
            .ok()
            .filter(|d| {
                d.annotations()
                    .get("deployment.kubernetes.io/revision")
                    .map(String::as_str)
                    == Some("4")
            })
    });
}

#[test]
fn recreate_removes_old_pods_before_new_ones() {
    let lab = lab();
    let c = &lab.client;
    let mut d = deployment("once", 2);
    d["spec"]["strategy"] = json!({"type":"Recreate"});
    c.create(&DEPLOYMENTS, None, &d).unwrap();
    wait_for("2 ready", Duration::from_secs(10), || {
        c.get(&DEPLOYMENTS, Some("default"), "once")
            .ok()
            .filter(|d| d["status"]["availableReplicas"] == 2)
    });
    c.merge_patch(&DEPLOYMENTS, Some("default"), "once", &json!({"spec":{"template":{"spec":{"containers":[{"name":"echo","image":"kplab/echo:2"}]}}}})).unwrap();
    let start = Instant::now();
    loop {
        let pods = c
            .list(&PODS, Some("default"), Some("app=once"), None)
            .unwrap()
            .items;
        let new = pods
            .iter()
            .filter(|p| p["spec"]["containers"][0]["image"] == "kplab/echo:2")
            .count();
        let old = pods.len() - new;
        assert!(
            new == 0 || old == 0,
            "old and new pods at once: {old} old, {new} new"
        );
        if new == 2 && pods.iter().all(is_ready) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "recreate stalled"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn controllers_scheduler_and_kubelet_record_events() {
    let lab = lab();
    let c = &lab.client;
    c.create(&DEPLOYMENTS, None, &deployment("ev", 2)).unwrap();
    wait_for("2 ready", Duration::from_secs(10), || {
        c.get(&DEPLOYMENTS, Some("default"), "ev")
            .ok()
            .filter(|d| d["status"]["availableReplicas"] == 2)
    });
    let rs = c
        .list(&REPLICA_SETS, Some("default"), Some("app=ev"), None)
        .unwrap()
        .items
        .remove(0);
    let dep_events = wait_for("ScalingReplicaSet", Duration::from_secs(5), || {
        let e = events_of(c, "default", "Deployment", "ev");
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(dep_events[0]["reason"], "ScalingReplicaSet");
    assert_eq!(
        dep_events[0]["message"],
        format!("Scaled up replica set {} from 0 to 2", rs.name())
    );
    assert_eq!(
        dep_events[0]["source"]["component"],
        "deployment-controller"
    );
    assert_eq!(dep_events[0]["type"], "Normal");
    let rs_events = events_of(c, "default", "ReplicaSet", rs.name());
    assert_eq!(rs_events.len(), 2);
    let pods = active_pods(c, "app=ev");
    for p in &pods {
        assert!(rs_events.iter().any(|e| e["reason"] == "SuccessfulCreate"
            && e["message"] == format!("Created pod: {}", p.name())));
        let pe = events_of(c, "default", "Pod", p.name());
        let scheduled = pe
            .iter()
            .find(|e| e["reason"] == "Scheduled")
            .expect("Scheduled");
        assert_eq!(
            scheduled["message"],
            format!(
                "Successfully assigned default/{} to {}",
                p.name(),
                p["spec"]["nodeName"].as_str().unwrap()
            )
        );
        assert_eq!(scheduled["source"]["component"], "default-scheduler");
        assert_eq!(scheduled["involvedObject"]["uid"], p["metadata"]["uid"]);
    }
    // Scaling down: the ReplicaSet deletes a pod and says so.
    c.merge_patch(
        &DEPLOYMENTS,
        Some("default"),
        "ev",
        &json!({"spec":{"replicas":1}}),
    )
    .unwrap();
    wait_for("SuccessfulDelete", Duration::from_secs(5), || {
        events_of(c, "default", "ReplicaSet", rs.name())
            .into_iter()
            .find(|e| e["reason"] == "SuccessfulDelete")
    });
    wait_for("Scaled down", Duration::from_secs(5), || {
        events_of(c, "default", "Deployment", "ev")
            .into_iter()
            .find(|e| e["message"] == format!("Scaled down replica set {} from 2 to 1", rs.name()))
    });
    // An unschedulable pod is a FailedScheduling warning.
    c.create(&PODS, None, &json!({"metadata":{"name":"stuck"},"spec":{"nodeSelector":{"disk":"none"},"containers":[{"name":"c","image":"i"}]}})).unwrap();
    let w = wait_for("FailedScheduling", Duration::from_secs(5), || {
        events_of(c, "default", "Pod", "stuck")
            .into_iter()
            .find(|e| e["reason"] == "FailedScheduling")
    });
    assert_eq!(w["type"], "Warning");
    assert!(w["message"]
        .as_str()
        .unwrap()
        .starts_with("0/2 nodes are available"));
    // Deleting the Deployment deletes its ReplicaSets and their pods.
    c.delete(&DEPLOYMENTS, Some("default"), "ev", None).unwrap();
    wait_for("replicasets and pods gone", Duration::from_secs(5), || {
        let rs = c
            .list(&REPLICA_SETS, Some("default"), Some("app=ev"), None)
            .ok()?;
        let p = c.list(&PODS, Some("default"), Some("app=ev"), None).ok()?;
        (rs.items.is_empty() && p.items.is_empty()).then_some(())
    });
}

#[test]
fn daemon_sets_run_one_pod_per_node() {
    let lab = lab();
    let c = &lab.client;
    // The bootstrap DaemonSets: a kube-proxy and a calico-node pod on each node.
    let kp = wait_for("kube-proxy pods", Duration::from_secs(10), || {
        let l = c
            .list(&PODS, Some("kube-system"), Some("k8s-app=kube-proxy"), None)
            .ok()?
            .items;
        (l.len() == 2).then_some(l)
    });
    let mut nodes: Vec<&str> = kp
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["node-1", "node-2"]);
    for p in &kp {
        let suffix = p.name().strip_prefix("kube-proxy-").unwrap();
        assert!(suffix.len() == 5 && is_alnum_safe(suffix), "{}", p.name());
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        assert_eq!(p["spec"]["hostNetwork"], true);
        assert_eq!(p.labels()["pod-template-generation"], "1");
    }
    let ds = c
        .create(
            &kplab_agent::kube::client::DAEMON_SETS,
            None,
            &json!({"metadata":{"name":"agent"},"spec":{"selector":{"matchLabels":{"app":"agent"}},
                "template":{"metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"name":"a","image":"kplab/echo:1"}]}}}}),
        )
        .unwrap();
    assert_eq!(ds["metadata"]["generation"], 1);
    wait_for("2 agent pods, ready", Duration::from_secs(10), || {
        c.get(
            &kplab_agent::kube::client::DAEMON_SETS,
            Some("default"),
            "agent",
        )
        .ok()
        .filter(|d| {
            d["status"]["desiredNumberScheduled"] == 2
                && d["status"]["numberReady"] == 2
                && d["status"]["currentNumberScheduled"] == 2
        })
    });
    // A new node gets one too.
    c.create(&NODES, None, &node("node-3", false)).unwrap();
    wait_for("a pod on node-3", Duration::from_secs(10), || {
        active_pods(c, "app=agent")
            .into_iter()
            .find(|p| p["spec"]["nodeName"] == "node-3")
    });
    // A template change replaces the pods.
    c.merge_patch(
        &kplab_agent::kube::client::DAEMON_SETS,
        Some("default"),
        "agent",
        &json!({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"kplab/echo:2"}]}}}}),
    )
    .unwrap();
    // Node by node: generous for a loaded CI machine (about 1 s on an idle one).
    wait_for("3 updated pods", Duration::from_secs(30), || {
        let d = c
            .get(
                &kplab_agent::kube::client::DAEMON_SETS,
                Some("default"),
                "agent",
            )
            .ok()?;
        let pods = active_pods(c, "app=agent");
        (d["status"]["updatedNumberScheduled"] == 3
            && d["status"]["numberReady"] == 3
            && pods.len() == 3
            && pods
                .iter()
                .all(|p| p.labels()["pod-template-generation"] == "2"))
        .then_some(())
    });
    // A failed pod is deleted and replaced.
    let mut failed = active_pods(c, "app=agent")
        .into_iter()
        .find(|p| p["spec"]["nodeName"] == "node-2")
        .unwrap();
    failed["status"]["phase"] = json!("Failed");
    c.update_status(&PODS, Some("default"), failed.name(), &failed)
        .unwrap();
    wait_for("a replacement on node-2", Duration::from_secs(10), || {
        active_pods(c, "app=agent")
            .into_iter()
            .find(|p| p["spec"]["nodeName"] == "node-2" && p.name() != failed.name() && is_ready(p))
    });
    let w = wait_for("FailedDaemonPod", Duration::from_secs(5), || {
        events_of(c, "default", "DaemonSet", "agent")
            .into_iter()
            .find(|e| e["reason"] == "FailedDaemonPod")
    });
    assert_eq!(
        w["message"],
        format!(
            "Found failed daemon pod default/{} on node node-2, will try to kill it",
            failed.name()
        )
    );
    assert_eq!(w["type"], "Warning");
    // Removing a node removes its pod.
    c.delete(&NODES, None, "node-3", None).unwrap();
    wait_for("2 pods again", Duration::from_secs(10), || {
        (active_pods(c, "app=agent").len() == 2).then_some(())
    });
}

#[test]
fn orphaned_replica_sets_and_pods_are_adopted_again() {
    let lab = lab();
    let c = &lab.client;
    c.create(&DEPLOYMENTS, None, &deployment("keep", 2))
        .unwrap();
    wait_for("2 ready", Duration::from_secs(10), || {
        c.get(&DEPLOYMENTS, Some("default"), "keep")
            .ok()
            .filter(|d| d["status"]["availableReplicas"] == 2)
    });
    let pods_before: BTreeSet<String> = active_pods(c, "app=keep")
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    // `kubectl delete deployment keep --cascade=orphan`.
    c.request(
        "DELETE",
        "/apis/apps/v1/namespaces/default/deployments/keep",
        &[],
        Some((
            "application/json",
            &json!({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Orphan"}),
        )),
    )
    .unwrap();
    let rs = c
        .list(&REPLICA_SETS, Some("default"), Some("app=keep"), None)
        .unwrap()
        .items;
    assert_eq!(rs.len(), 1, "the ReplicaSet stays");
    assert!(rs[0]["metadata"].get("ownerReferences").is_none());
    std::thread::sleep(Duration::from_millis(300));
    let pods_orphaned: BTreeSet<String> = active_pods(c, "app=keep")
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert_eq!(pods_orphaned, pods_before, "the pods stay");
    // The same Deployment again adopts the ReplicaSet, which keeps its pods.
    let d = c
        .create(&DEPLOYMENTS, None, &deployment("keep", 2))
        .unwrap();
    let adopted = wait_for("the ReplicaSet adopted", Duration::from_secs(10), || {
        c.get(&REPLICA_SETS, Some("default"), rs[0].name())
            .ok()
            .filter(|r| r["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"])
    });
    assert_eq!(adopted["spec"]["replicas"], 2);
    wait_for("available again", Duration::from_secs(10), || {
        c.get(&DEPLOYMENTS, Some("default"), "keep")
            .ok()
            .filter(|d| d["status"]["availableReplicas"] == 2)
    });
    let pods_after: BTreeSet<String> = active_pods(c, "app=keep")
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert_eq!(pods_after, pods_before);
    assert_eq!(
        c.list(&REPLICA_SETS, Some("default"), Some("app=keep"), None)
            .unwrap()
            .items
            .len(),
        1
    );
    // Orphaned pods of a deleted ReplicaSet are adopted by a new one with the same selector.
    let rs_name = adopted.name().to_string();
    c.request(
        "DELETE",
        &format!("/apis/apps/v1/namespaces/default/replicasets/{rs_name}"),
        &[("propagationPolicy", "Orphan")],
        None,
    )
    .unwrap();
    let p = c
        .get(&PODS, Some("default"), pods_before.iter().next().unwrap())
        .unwrap();
    assert!(p["metadata"].get("ownerReferences").is_none(), "{p}");
    wait_for(
        "the pods adopted by the recreated ReplicaSet",
        Duration::from_secs(10),
        || {
            let pods = active_pods(c, "app=keep");
            let names: BTreeSet<String> = pods.iter().map(|p| p.name().to_string()).collect();
            (names == pods_before
                && pods
                    .iter()
                    .all(|p| p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"))
            .then_some(())
        },
    );
}
