//! The lab API server in-process on 127.0.0.1:0, driven through the blocking client: CRUD,
//! defaulting, validation messages, selectors, watch, graceful deletion, persistence.

use std::time::{Duration, Instant};

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{
    ApiClient, EventType, KubeObject, DEPLOYMENTS, ENDPOINTS, ENDPOINT_SLICES, NAMESPACES,
    NETWORK_POLICIES, NODES, PODS, SERVICES,
};
use serde_json::{json, Value};

fn start(dir: &tempfile::TempDir) -> EmbeddedServer {
    EmbeddedServer::start(
        dir.path(),
        Config {
            advertise_address: Some("172.28.5.10".into()),
            advertise_port: 6443,
        },
    )
    .expect("server starts")
}

fn pod(name: &str, labels: Value) -> Value {
    json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"labels":labels},
           "spec":{"containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80,"name":"http"}]}]}})
}

fn svc(name: &str, spec: Value) -> Value {
    json!({"apiVersion":"v1","kind":"Service","metadata":{"name":name},"spec":spec})
}

fn message(c: &ApiClient, res: &kplab_agent::kube::client::Resource, obj: Value) -> String {
    let e = c.create(res, Some("default"), &obj).unwrap_err();
    e.status().expect("an API error").message.clone()
}

#[test]
fn bootstrap_objects_exist() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let ns = c.list(&NAMESPACES, None, None, None).unwrap();
    let names: Vec<&str> = ns.items.iter().map(|n| n.name()).collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    for n in &ns.items {
        assert_eq!(n.labels()["kubernetes.io/metadata.name"], n.name());
        assert_eq!(n["status"]["phase"], "Active");
    }
    let k = c.get(&SERVICES, Some("default"), "kubernetes").unwrap();
    assert_eq!(k["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(k["spec"]["ports"][0]["port"], 443);
    assert_eq!(k["spec"]["ports"][0]["targetPort"], 6443);
    let ep = c.get(&ENDPOINTS, Some("default"), "kubernetes").unwrap();
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "172.28.5.10");
    let sl = c
        .get(&ENDPOINT_SLICES, Some("default"), "kubernetes")
        .unwrap();
    assert_eq!(sl["endpoints"][0]["addresses"][0], "172.28.5.10");
    assert_eq!(sl["ports"][0]["port"], 6443);
    let v = c.request("GET", "/version", &[], None).unwrap();
    assert_eq!(v["gitVersion"], kplab_agent::KUBERNETES_VERSION);
    // The Python client asks with a trailing slash.
    let v = c.request("GET", "/version/", &[], None).unwrap();
    assert_eq!(v["gitVersion"], kplab_agent::KUBERNETES_VERSION);
    let api = c.request("GET", "/api/v1", &[], None).unwrap();
    assert!(api["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "pods"));
    let groups = c.request("GET", "/apis", &[], None).unwrap();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    // In kube-apiserver's order; the review groups are served without storage.
    assert_eq!(
        names,
        [
            "apps",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "networking.k8s.io",
            "coordination.k8s.io",
            "discovery.k8s.io"
        ]
    );
}

#[test]
fn pod_crud_defaults_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let p = c
        .create(&PODS, None, &pod("web", json!({"app":"web"})))
        .unwrap();
    assert_eq!(p.namespace(), Some("default"));
    assert_eq!(p["spec"]["restartPolicy"], "Always");
    assert_eq!(p["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 30);
    assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(
        p["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p.uid().unwrap().len(), 36);
    assert!(p["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    let e = c.create(&PODS, None, &pod("web", json!({}))).unwrap_err();
    assert!(e.is_already_exists());
    assert_eq!(e.status().unwrap().message, "pods \"web\" already exists");
    let e = c.get(&PODS, Some("default"), "nope").unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(e.status().unwrap().message, "pods \"nope\" not found");
    let e = c.get(&DEPLOYMENTS, Some("default"), "nope").unwrap_err();
    assert_eq!(
        e.status().unwrap().message,
        "deployments.apps \"nope\" not found"
    );
    let e = c
        .create(&PODS, Some("missing"), &pod("x", json!({})))
        .unwrap_err();
    assert_eq!(
        e.status().unwrap().message,
        "namespaces \"missing\" not found"
    );

    // Names: pods are subdomains (253), services DNS-1035 labels (63).
    let long = "a".repeat(64);
    c.create(&PODS, None, &pod(&long, json!({}))).unwrap();
    let m = message(&c, &PODS, pod(&"a".repeat(254), json!({})));
    assert!(m.starts_with(&format!("Pod \"{}\" is invalid: metadata.name: Invalid value: \"{}\": must be no more than 253 characters", "a".repeat(254), "a".repeat(254))), "{m}");
    let m = message(&c, &SERVICES, svc(&long, json!({"ports":[{"port":80}]})));
    assert_eq!(m, format!("Service \"{long}\" is invalid: metadata.name: Invalid value: \"{long}\": must be no more than 63 characters"));
    let m = message(
        &c,
        &PODS,
        json!({"metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c","image":"i"}]}}),
    );
    assert!(
        m.contains("a lowercase RFC 1123 subdomain must consist of"),
        "{m}"
    );
    let m = message(&c, &PODS, json!({"metadata":{"name":"p"},"spec":{}}));
    assert_eq!(m, "Pod \"p\" is invalid: spec.containers: Required value");

    // Replace with a stale resourceVersion conflicts; a label change by merge patch works.
    let stale = p.clone();
    let patched = c
        .merge_patch(
            &PODS,
            Some("default"),
            "web",
            &json!({"metadata":{"labels":{"tier":"front"}}}),
        )
        .unwrap();
    assert_eq!(patched.labels()["tier"], "front");
    assert_ne!(patched.resource_version(), p.resource_version());
    let e = c
        .replace(&PODS, Some("default"), "web", &stale)
        .unwrap_err();
    assert!(e.is_conflict());
    assert!(e.status().unwrap().message.starts_with(
        "Operation cannot be fulfilled on pods \"web\": the object has been modified"
    ));
    // Pod specs are immutable except images.
    let e = c
        .merge_patch(&PODS, Some("default"), "web", &json!({"spec":{"containers":[{"name":"web","image":"nginx","ports":[{"containerPort":81}]}]}}))
        .unwrap_err();
    assert!(e
        .status()
        .unwrap()
        .message
        .contains("spec: Forbidden: pod updates may not change fields"));
    // Status goes through the status subresource and survives main-resource updates.
    let mut st = c.get(&PODS, Some("default"), "web").unwrap();
    st["status"] = json!({"phase":"Running","podIP":"10.244.1.5"});
    c.update_status(&PODS, Some("default"), "web", &st).unwrap();
    let relabelled = c
        .merge_patch(
            &PODS,
            Some("default"),
            "web",
            &json!({"metadata":{"labels":{"x":"1"}},"status":{"phase":"Failed"}}),
        )
        .unwrap();
    assert_eq!(relabelled["status"]["podIP"], "10.244.1.5");
    assert_eq!(relabelled["status"]["phase"], "Running");
    let patched = c
        .merge_patch(
            &PODS,
            Some("default"),
            "web",
            &json!({"metadata":{"labels":{"x":null}}}),
        )
        .unwrap();
    // A no-op patch does not bump the resourceVersion.
    let same = c
        .merge_patch(
            &PODS,
            Some("default"),
            "web",
            &json!({"metadata":{"labels":{"tier":"front"}}}),
        )
        .unwrap();
    assert_eq!(same.resource_version(), patched.resource_version());
}

#[test]
fn service_defaults_allocation_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let a = c
        .create(
            &SERVICES,
            None,
            &svc(
                "web",
                json!({"selector":{"app":"web"},"ports":[{"port":80}]}),
            ),
        )
        .unwrap();
    let ip: std::net::Ipv4Addr = a["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
    let n = u32::from(ip);
    assert_eq!(n & 0xfff0_0000, 0x0a60_0000, "{ip} in 10.96.0.0/12");
    assert!(
        n & 0xfffff >= 256,
        "dynamic allocation avoids the static band: {ip}"
    );
    assert_eq!(a["spec"]["clusterIPs"], json!([ip.to_string()]));
    assert_eq!(a["spec"]["type"], "ClusterIP");
    assert_eq!(a["spec"]["sessionAffinity"], "None");
    assert_eq!(a["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(a["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(a["spec"]["internalTrafficPolicy"], "Cluster");
    assert_eq!(a["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(a["spec"]["ports"][0]["targetPort"], 80);
    assert!(a["spec"].get("externalTrafficPolicy").is_none());
    let e = c
        .create(&SERVICES, None, &svc("web", json!({"ports":[{"port":80}]})))
        .unwrap_err();
    assert_eq!(
        e.status().unwrap().message,
        "services \"web\" already exists"
    );

    let np = c
        .create(&SERVICES, None, &svc("np", json!({"type":"NodePort","selector":{"app":"web"},"ports":[{"port":80,"nodePort":30080},{"name":"x","port":81}]})))
        .unwrap_err();
    assert_eq!(
        np.status().unwrap().message,
        "Service \"np\" is invalid: spec.ports[0].name: Required value"
    );
    let np = c
        .create(&SERVICES, None, &svc("np", json!({"type":"NodePort","selector":{"app":"web"},"ports":[{"name":"a","port":80,"nodePort":30080},{"name":"b","port":81}]})))
        .unwrap();
    assert_eq!(np["spec"]["ports"][0]["nodePort"], 30080);
    let second = np["spec"]["ports"][1]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&second));
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
    let m = message(
        &c,
        &SERVICES,
        svc(
            "np2",
            json!({"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}),
        ),
    );
    assert_eq!(m, "Service \"np2\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated");
    let m = message(
        &c,
        &SERVICES,
        svc(
            "np2",
            json!({"type":"NodePort","ports":[{"port":80,"nodePort":80}]}),
        ),
    );
    assert_eq!(m, "Service \"np2\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767");
    let m = message(
        &c,
        &SERVICES,
        svc("p", json!({"ports":[{"port":70000,"targetPort":8080}]})),
    );
    assert_eq!(m, "Service \"p\" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive");
    let m = message(
        &c,
        &SERVICES,
        svc("p", json!({"ports":[{"port":80,"protocol":"ICMP"}]})),
    );
    assert_eq!(m, "Service \"p\" is invalid: spec.ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"");
    let m = message(
        &c,
        &SERVICES,
        svc("p", json!({"type":"Foo","ports":[{"port":80}]})),
    );
    assert_eq!(m, "Service \"p\" is invalid: spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"");
    let dns = c
        .create(
            &SERVICES,
            None,
            &svc("p", json!({"clusterIP":"10.96.0.10","ports":[{"port":80}]})),
        )
        .unwrap();
    assert_eq!(dns["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    let m = message(
        &c,
        &SERVICES,
        svc(
            "p2",
            json!({"clusterIP":"10.96.0.10","ports":[{"port":80}]}),
        ),
    );
    assert_eq!(m, "Service \"p2\" is invalid: spec.clusterIPs[0]: Invalid value: \"10.96.0.10\": failed to allocate IP 10.96.0.10: provided IP is already allocated");
    let m = message(
        &c,
        &SERVICES,
        svc("p2", json!({"clusterIP":"10.0.0.10","ports":[{"port":80}]})),
    );
    assert!(
        m.contains("is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
        "{m}"
    );
    let m = message(
        &c,
        &SERVICES,
        svc(
            "p2",
            json!({"externalTrafficPolicy":"Local","ports":[{"port":80}]}),
        ),
    );
    assert_eq!(m, "Service \"p2\" is invalid: spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services");
    let m = message(
        &c,
        &SERVICES,
        svc(
            "p2",
            json!({"type":"NodePort","externalTrafficPolicy":"Foo","ports":[{"port":80}]}),
        ),
    );
    assert_eq!(m, "Service \"p2\" is invalid: spec.externalTrafficPolicy: Unsupported value: \"Foo\": supported values: \"Cluster\", \"Local\"");

    let lb = c
        .create(&SERVICES, None, &svc("lb", json!({"type":"LoadBalancer","externalTrafficPolicy":"Local","sessionAffinity":"ClientIP","ports":[{"port":80}]})))
        .unwrap();
    assert!(lb["spec"]["healthCheckNodePort"].as_i64().is_some());
    assert!(lb["spec"]["ports"][0]["nodePort"].as_i64().is_some());
    assert_eq!(
        lb["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);

    // Updates keep allocations; switching to ClusterIP drops node ports and eTP.
    let upd = c
        .merge_patch(
            &SERVICES,
            Some("default"),
            "np",
            &json!({"metadata":{"labels":{"x":"y"}}}),
        )
        .unwrap();
    assert_eq!(upd["spec"]["clusterIP"], np["spec"]["clusterIP"]);
    assert_eq!(upd["spec"]["ports"][1]["nodePort"], second);
    let cip = c
        .merge_patch(
            &SERVICES,
            Some("default"),
            "np",
            &json!({"spec":{"type":"ClusterIP"}}),
        )
        .unwrap();
    assert!(cip["spec"]["ports"][0].get("nodePort").is_none());
    assert!(cip["spec"].get("externalTrafficPolicy").is_none());
    // Port 30080 is free again.
    c.create(
        &SERVICES,
        None,
        &svc(
            "np3",
            json!({"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}),
        ),
    )
    .unwrap();
    c.delete(&SERVICES, Some("default"), "np3", None).unwrap();
    c.create(
        &SERVICES,
        None,
        &svc(
            "np4",
            json!({"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}),
        ),
    )
    .unwrap();
}

#[test]
fn selectors_filter_lists() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    c.create(&PODS, None, &pod("a", json!({"app":"web","tier":"front"})))
        .unwrap();
    c.create(&PODS, None, &pod("b", json!({"app":"web","tier":"back"})))
        .unwrap();
    c.create(&PODS, None, &pod("c", json!({"app":"db"})))
        .unwrap();
    let names = |l: Option<&str>, f: Option<&str>| -> Vec<String> {
        c.list(&PODS, Some("default"), l, f)
            .unwrap()
            .items
            .iter()
            .map(|p| p.name().to_string())
            .collect()
    };
    assert_eq!(names(Some("app=web"), None), ["a", "b"]);
    assert_eq!(names(Some("app!=web"), None), ["c"]);
    assert_eq!(names(Some("tier in (front,x)"), None), ["a"]);
    assert_eq!(names(Some("tier notin (front)"), None), ["b", "c"]);
    assert_eq!(names(Some("tier"), None), ["a", "b"]);
    assert_eq!(names(Some("!tier"), None), ["c"]);
    assert_eq!(names(None, Some("metadata.name=b")), ["b"]);
    c.request(
        "POST",
        "/api/v1/namespaces/default/pods/a/binding",
        &[],
        Some((
            "application/json",
            &json!({"target":{"kind":"Node","name":"node-2"}}),
        )),
    )
    .unwrap();
    assert_eq!(names(None, Some("spec.nodeName=node-2")), ["a"]);
    assert_eq!(names(None, Some("spec.nodeName=")), ["b", "c"]);
    let all = c.list(&PODS, None, Some("app=web"), None).unwrap();
    assert_eq!(all.items.len(), 2);
    let e = c.list(&PODS, None, None, Some("spec.foo=x")).unwrap_err();
    assert_eq!(e.code(), Some(400));
    assert_eq!(
        e.status().unwrap().message,
        "field label not supported: spec.foo"
    );
    let bound = c.get(&PODS, Some("default"), "a").unwrap();
    assert_eq!(bound["status"]["conditions"][0]["type"], "PodScheduled");
    let e = c
        .request(
            "POST",
            "/api/v1/namespaces/default/pods/a/binding",
            &[],
            Some((
                "application/json",
                &json!({"target":{"kind":"Node","name":"node-1"}}),
            )),
        )
        .unwrap_err();
    assert_eq!(e.status().unwrap().message, "Operation cannot be fulfilled on pods/binding \"a\": pod a is already assigned to node \"node-2\"");
}

#[test]
fn watch_streams_changes_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let list = c.list(&PODS, Some("default"), None, None).unwrap();
    let c2 = c.clone();
    let rv = list.resource_version.clone();
    let handle = std::thread::spawn(move || {
        let mut got = Vec::new();
        for ev in c2.watch(&PODS, Some("default"), Some(&rv)).unwrap() {
            let ev = ev.unwrap();
            got.push((ev.event_type, ev.object.name().to_string()));
            if got.len() == 3 {
                break;
            }
        }
        got
    });
    std::thread::sleep(Duration::from_millis(100));
    c.create(&PODS, None, &pod("w", json!({"app":"w"})))
        .unwrap();
    c.merge_patch(
        &PODS,
        Some("default"),
        "w",
        &json!({"metadata":{"labels":{"v":"2"}}}),
    )
    .unwrap();
    c.delete(&PODS, Some("default"), "w", None).unwrap();
    let got = handle.join().unwrap();
    assert_eq!(
        got,
        vec![
            (EventType::Added, "w".to_string()),
            (EventType::Modified, "w".to_string()),
            (EventType::Deleted, "w".to_string())
        ]
    );
    // Replay from the old version after the fact, and a watch without version lists first.
    let replay: Vec<EventType> = c
        .watch(&PODS, Some("default"), Some(&list.resource_version))
        .unwrap()
        .take(3)
        .map(|e| e.unwrap().event_type)
        .collect();
    assert_eq!(
        replay,
        [EventType::Added, EventType::Modified, EventType::Deleted]
    );
    let first = c
        .watch(&NAMESPACES, None, None)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.event_type, EventType::Added);
    // Watch with a label selector only sees matching objects.
    let c3 = c.clone();
    let h = std::thread::spawn(move || {
        let ev = c3
            .watch_selected(&PODS, None, Some("1"), Some("app=match"), None)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        ev.object.name().to_string()
    });
    c.create(&PODS, None, &pod("nomatch", json!({"app":"x"})))
        .unwrap();
    c.create(&PODS, None, &pod("match", json!({"app":"match"})))
        .unwrap();
    assert_eq!(h.join().unwrap(), "match");
}

#[test]
fn state_survives_restart_and_old_watches_get_gone() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let created = c
        .create(
            &SERVICES,
            None,
            &svc(
                "keep",
                json!({"selector":{"app":"k"},"ports":[{"port":80}]}),
            ),
        )
        .unwrap();
    c.create(&NAMESPACES, None, &json!({"metadata":{"name":"team-a"}}))
        .unwrap();
    c.create(&NODES, None, &json!({"metadata":{"name":"node-2"},"status":{"conditions":[{"type":"Ready","status":"True"}]}})).unwrap();
    let rv_before: u64 = c
        .list(&PODS, None, None, None)
        .unwrap()
        .resource_version
        .parse()
        .unwrap();
    s.stop().unwrap();

    let s = start(&dir);
    let c = s.client();
    let again = c.get(&SERVICES, Some("default"), "keep").unwrap();
    assert_eq!(again["spec"]["clusterIP"], created["spec"]["clusterIP"]);
    assert_eq!(again.uid(), created.uid());
    assert!(c.get(&NAMESPACES, None, "team-a").is_ok());
    assert_eq!(
        c.get(&NODES, None, "node-2").unwrap()["status"]["conditions"][0]["status"],
        "True"
    );
    let rv_after: u64 = c
        .list(&PODS, None, None, None)
        .unwrap()
        .resource_version
        .parse()
        .unwrap();
    assert!(
        rv_after >= rv_before,
        "resourceVersion continues: {rv_before} -> {rv_after}"
    );
    let mut w = c.watch(&PODS, None, Some("1")).unwrap();
    let e = w.next().unwrap().unwrap_err();
    assert!(e.is_gone(), "{e}");
    assert!(e
        .status()
        .unwrap()
        .message
        .starts_with("too old resource version: 1"));
    assert!(w.next().is_none());
}

#[test]
fn graceful_pod_deletion_and_namespace_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    c.create(&PODS, None, &pod("unscheduled", json!({})))
        .unwrap();
    c.delete(&PODS, Some("default"), "unscheduled", None)
        .unwrap();
    assert!(c
        .get(&PODS, Some("default"), "unscheduled")
        .unwrap_err()
        .is_not_found());

    c.create(&PODS, None, &pod("run", json!({}))).unwrap();
    let bind = json!({"target":{"kind":"Node","name":"node-1"}});
    c.request(
        "POST",
        "/api/v1/namespaces/default/pods/run/binding",
        &[],
        Some(("application/json", &bind)),
    )
    .unwrap();
    let d = c.delete(&PODS, Some("default"), "run", None).unwrap();
    assert!(d.is_terminating());
    assert_eq!(d["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(c
        .get(&PODS, Some("default"), "run")
        .unwrap()
        .is_terminating());
    c.delete(&PODS, Some("default"), "run", Some(0)).unwrap();
    assert!(c
        .get(&PODS, Some("default"), "run")
        .unwrap_err()
        .is_not_found());

    c.create(&NAMESPACES, None, &json!({"metadata":{"name":"lab"}}))
        .unwrap();
    c.create(
        &SERVICES,
        Some("lab"),
        &svc("s", json!({"ports":[{"port":80}]})),
    )
    .unwrap();
    c.create(&PODS, Some("lab"), &pod("p", json!({}))).unwrap();
    c.request(
        "POST",
        "/api/v1/namespaces/lab/pods/p/binding",
        &[],
        Some(("application/json", &bind)),
    )
    .unwrap();
    let ns = c.delete(&NAMESPACES, None, "lab", None).unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(c
        .get(&SERVICES, Some("lab"), "s")
        .unwrap_err()
        .is_not_found());
    assert!(c.get(&PODS, Some("lab"), "p").unwrap().is_terminating());
    let e = c
        .create(&PODS, Some("lab"), &pod("q", json!({})))
        .unwrap_err();
    assert_eq!(e.status().unwrap().message, "pods \"q\" is forbidden: unable to create new content in namespace lab because it is being terminated");
    c.delete(&PODS, Some("lab"), "p", Some(0)).unwrap();
    assert!(c.get(&NAMESPACES, None, "lab").unwrap_err().is_not_found());
    let e = c.delete(&NAMESPACES, None, "default", None).unwrap_err();
    assert_eq!(
        e.status().unwrap().message,
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
}

#[test]
fn deployments_scale_and_generation_and_netpol() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"web","image":"nginx"}]}}}});
    let created = c.create(&DEPLOYMENTS, None, &d).unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["spec"]["replicas"], 1);
    assert_eq!(created["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(created["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        created["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    let scale = c
        .request(
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            &[],
            Some((
                "application/merge-patch+json",
                &json!({"spec":{"replicas":3}}),
            )),
        )
        .unwrap();
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");
    let after = c.get(&DEPLOYMENTS, Some("default"), "web").unwrap();
    assert_eq!(after["metadata"]["generation"], 2);
    // Status updates do not bump the generation and are ignored through the main resource.
    let st = c
        .update_status(
            &DEPLOYMENTS,
            Some("default"),
            "web",
            &json!({"status":{"replicas":3}}),
        )
        .unwrap();
    assert_eq!(st["metadata"]["generation"], 2);
    assert_eq!(st["status"]["replicas"], 3);
    let m = c
        .merge_patch(
            &DEPLOYMENTS,
            Some("default"),
            "web",
            &json!({"status":{"replicas":9}}),
        )
        .unwrap();
    assert_eq!(m["status"]["replicas"], 3);
    let e = c.merge_patch(&DEPLOYMENTS, Some("default"), "web", &json!({"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}})).unwrap_err();
    assert!(
        e.status()
            .unwrap()
            .message
            .contains("spec.selector: Invalid value"),
        "{e}"
    );
    let mut bad = d.clone();
    bad["metadata"]["name"] = json!("bad");
    bad["spec"]["template"]["metadata"]["labels"] = json!({"app":"other"});
    let msg = c
        .create(&DEPLOYMENTS, None, &bad)
        .unwrap_err()
        .status()
        .unwrap()
        .message
        .clone();
    assert_eq!(msg, "Deployment.apps \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`");

    let np = c
        .create(&NETWORK_POLICIES, None, &json!({"metadata":{"name":"deny"},"spec":{"podSelector":{},"egress":[{"ports":[{"port":53}]}]}}))
        .unwrap();
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    let e = c
        .create(&NETWORK_POLICIES, None, &json!({"metadata":{"name":"bad"},"spec":{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["192.168.0.0/16"]}}]}],"policyTypes":["Sideways"]}}))
        .unwrap_err();
    let m = &e.status().unwrap().message;
    assert!(
        m.starts_with("NetworkPolicy.networking.k8s.io \"bad\" is invalid: ["),
        "{m}"
    );
    assert!(m.contains("spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"192.168.0.0/16\": must be a strict subset of `cidr`"), "{m}");
    assert!(m.contains("spec.policyTypes[0]: Unsupported value: \"Sideways\": supported values: \"Egress\", \"Ingress\""), "{m}");

    // Deleting the deployment deletes what it owns.
    let owner = c.get(&DEPLOYMENTS, Some("default"), "web").unwrap();
    let mut p = pod("web-owned", json!({"app":"web"}));
    p["metadata"]["ownerReferences"] = json!([{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":owner.uid(),"controller":true}]);
    c.create(&PODS, None, &p).unwrap();
    let t = Instant::now();
    c.delete(&DEPLOYMENTS, Some("default"), "web", None)
        .unwrap();
    assert!(c
        .get(&PODS, Some("default"), "web-owned")
        .unwrap_err()
        .is_not_found());
    assert!(t.elapsed() < Duration::from_secs(2));
    // A pod created for an owner that is already gone is collected at once.
    c.create(&PODS, None, &p).unwrap();
    assert!(c
        .get(&PODS, Some("default"), "web-owned")
        .unwrap_err()
        .is_not_found());
}
