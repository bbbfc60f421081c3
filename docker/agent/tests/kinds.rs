//! The kinds around Services (ConfigMap, Secret, ServiceAccount, Event, Lease, ReplicaSet,
//! DaemonSet) in the in-process API server: what it stores, defaults and refuses, with
//! kube-apiserver's messages; the kube-system objects of a fresh cluster; and the real kubectl
//! against it (`get configmap kube-proxy -o yaml | grep mode`, `create secret`, `get events`).

use std::process::Command;

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{
    ApiClient, KubeObject, Resource, CONFIG_MAPS, DAEMON_SETS, EVENTS, LEASES, NAMESPACES,
    REPLICA_SETS, SECRETS, SERVICE_ACCOUNTS,
};
use kplab_agent::kube::events::EventRecorder;
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

fn create_err(c: &ApiClient, res: &Resource, obj: Value) -> (u16, String) {
    let e = c.create(res, Some("default"), &obj).unwrap_err();
    let s = e.status().expect("an API error");
    (s.code, s.message.clone())
}

#[test]
fn secrets_merge_string_data_and_check_base64_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let sec = c
        .create(
            &SECRETS,
            None,
            &json!({"metadata":{"name":"db"},"data":{"user":"YWRtaW4="},"stringData":{"password":"s3cret","user":"root"}}),
        )
        .unwrap();
    assert_eq!(sec["type"], "Opaque");
    assert!(sec.get("stringData").is_none());
    // stringData wins over data for the same key, and is stored base64-encoded.
    assert_eq!(
        sec["data"],
        json!({"user":"cm9vdA==","password":"czNjcmV0"})
    );

    let (code, msg) = create_err(
        &c,
        &SECRETS,
        json!({"metadata":{"name":"bad"},"data":{"k":"not base64!"}}),
    );
    assert_eq!(code, 400);
    assert_eq!(
        msg,
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
    );
    let (code, msg) = create_err(
        &c,
        &SECRETS,
        json!({"metadata":{"name":"tok"},"type":"kubernetes.io/service-account-token"}),
    );
    assert_eq!(code, 422);
    assert_eq!(
        msg,
        "Secret \"tok\" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value"
    );
    let tok = c
        .create(
            &SECRETS,
            None,
            &json!({"metadata":{"name":"tok","annotations":{"kubernetes.io/service-account.name":"default"}},"type":"kubernetes.io/service-account-token"}),
        )
        .unwrap();
    assert_eq!(tok["type"], "kubernetes.io/service-account-token");
    let (_, msg) = create_err(
        &c,
        &SECRETS,
        json!({"metadata":{"name":"tls"},"type":"kubernetes.io/tls","data":{"tls.crt":"eA=="}}),
    );
    assert_eq!(
        msg,
        "Secret \"tls\" is invalid: data[tls.key]: Required value"
    );
    let (_, msg) = create_err(
        &c,
        &SECRETS,
        json!({"metadata":{"name":"k"},"data":{"a b":"eA=="}}),
    );
    assert!(
        msg.starts_with("Secret \"k\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters"),
        "{msg}"
    );
    // The type is immutable.
    let e = c
        .merge_patch(
            &SECRETS,
            Some("default"),
            "db",
            &json!({"type":"kubernetes.io/tls"}),
        )
        .unwrap_err();
    assert!(
        e.status()
            .unwrap()
            .message
            .contains("type: Invalid value: \"kubernetes.io/tls\": field is immutable"),
        "{e}"
    );
    // A patch with stringData updates data.
    let p = c
        .merge_patch(
            &SECRETS,
            Some("default"),
            "db",
            &json!({"stringData":{"password":"x"}}),
        )
        .unwrap();
    assert_eq!(p["data"]["password"], "eA==");
}

#[test]
fn config_maps_check_keys_and_immutability() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let cm = c
        .create(
            &CONFIG_MAPS,
            None,
            &json!({"metadata":{"name":"app"},"data":{"mode":"fast","app.conf":"x=1\n"},"immutable":true}),
        )
        .unwrap();
    assert_eq!(cm["data"]["mode"], "fast");
    let (code, msg) = create_err(
        &c,
        &CONFIG_MAPS,
        json!({"metadata":{"name":"n"},"data":{"n":5}}),
    );
    assert_eq!(code, 400);
    assert_eq!(msg, "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string");
    let (code, msg) = create_err(
        &c,
        &CONFIG_MAPS,
        json!({"metadata":{"name":"d"},"data":{"k":"v"},"binaryData":{"k":"eA=="}}),
    );
    assert_eq!(code, 422);
    assert_eq!(
        msg,
        "ConfigMap \"d\" is invalid: data[k]: Invalid value: \"k\": duplicate of key present in binaryData"
    );
    let e = c
        .merge_patch(
            &CONFIG_MAPS,
            Some("default"),
            "app",
            &json!({"data":{"mode":"slow"}}),
        )
        .unwrap_err();
    assert_eq!(
        e.status().unwrap().message,
        "ConfigMap \"app\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
}

#[test]
fn a_fresh_cluster_has_service_accounts_and_the_kube_proxy_objects() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        c.get(&SERVICE_ACCOUNTS, Some(ns), "default")
            .unwrap_or_else(|e| panic!("no default ServiceAccount in {ns}: {e}"));
    }
    // A new namespace gets its own, as kube-controller-manager makes it.
    c.create(&NAMESPACES, None, &json!({"metadata":{"name":"shop"}}))
        .unwrap();
    let sa = c.get(&SERVICE_ACCOUNTS, Some("shop"), "default").unwrap();
    assert_eq!(sa["kind"], "ServiceAccount");
    let cm = c
        .get(&CONFIG_MAPS, Some("kube-system"), "kube-proxy")
        .unwrap();
    let conf = cm["data"]["config.conf"].as_str().unwrap();
    assert!(conf.lines().any(|l| l == "mode: iptables"), "{conf}");
    assert!(conf.contains("clusterCIDR: 10.244.0.0/16"));
    assert!(conf.contains("detectLocalMode: ClusterCIDR"));
    assert!(conf.contains("kind: KubeProxyConfiguration"));
    let parsed: Value = serde_yaml_ng::from_str(conf).expect("config.conf is YAML");
    assert_eq!(parsed["iptables"]["masqueradeBit"], 14);
    assert!(cm["data"]["kubeconfig.conf"]
        .as_str()
        .unwrap()
        .contains("server: http://172.28.5.10:6443"));
    for ds in ["kube-proxy", "calico-node"] {
        let d = c.get(&DAEMON_SETS, Some("kube-system"), ds).unwrap();
        assert_eq!(d["spec"]["template"]["spec"]["hostNetwork"], true);
        assert_eq!(d["spec"]["updateStrategy"]["type"], "RollingUpdate");
        assert_eq!(d["metadata"]["generation"], 1);
        c.get(&SERVICE_ACCOUNTS, Some("kube-system"), ds).unwrap();
    }
    // A pod's ServiceAccount must exist (the ServiceAccount admission plugin).
    let (code, msg) = create_err(
        &c,
        &kplab_agent::kube::client::PODS,
        json!({"metadata":{"name":"web"},"spec":{"serviceAccountName":"robot","containers":[{"name":"c","image":"nginx"}]}}),
    );
    assert_eq!(code, 403);
    assert_eq!(
        msg,
        "pods \"web\" is forbidden: error looking up service account default/robot: serviceaccount \"robot\" not found"
    );
    c.create(
        &SERVICE_ACCOUNTS,
        None,
        &json!({"metadata":{"name":"robot"}}),
    )
    .unwrap();
    let p = c
        .create(
            &kplab_agent::kube::client::PODS,
            None,
            &json!({"metadata":{"name":"web"},"spec":{"serviceAccountName":"robot","containers":[{"name":"c","image":"nginx"}]}}),
        )
        .unwrap();
    assert_eq!(p["spec"]["serviceAccountName"], "robot");
    let p = c
        .create(
            &kplab_agent::kube::client::PODS,
            Some("shop"),
            &json!({"metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}),
        )
        .unwrap();
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    c.get(&SERVICE_ACCOUNTS, Some("kube-system"), "coredns")
        .unwrap();
    // No placeholder CA: the lab has none.
    assert!(c
        .get(&CONFIG_MAPS, Some("default"), "kube-root-ca.crt")
        .unwrap_err()
        .is_not_found());
}

#[test]
fn workloads_validate_and_scale() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let (code, msg) = create_err(
        &c,
        &REPLICA_SETS,
        json!({"metadata":{"name":"r"},"spec":{"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}),
    );
    assert_eq!(code, 422);
    assert_eq!(msg, "ReplicaSet.apps \"r\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`");
    let (_, msg) = create_err(
        &c,
        &DAEMON_SETS,
        json!({"metadata":{"name":"d"},"spec":{"selector":{},"template":{"metadata":{"labels":{"app":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}),
    );
    assert!(
        msg.contains("empty selector is invalid for daemonset"),
        "{msg}"
    );
    let rs = c
        .create(
            &REPLICA_SETS,
            None,
            &json!({"metadata":{"name":"r"},"spec":{"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}),
        )
        .unwrap();
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(rs["metadata"]["generation"], 1);
    // The scale subresource, as `kubectl scale rs r --replicas=3` uses it.
    let scale = c
        .request(
            "PATCH",
            "/apis/apps/v1/namespaces/default/replicasets/r/scale",
            &[],
            Some((
                "application/merge-patch+json",
                &json!({"spec":{"replicas":3}}),
            )),
        )
        .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=a");
    let rs = c.get(&REPLICA_SETS, Some("default"), "r").unwrap();
    assert_eq!(rs["spec"]["replicas"], 3);
    assert_eq!(rs["metadata"]["generation"], 2);
    // The selector is immutable.
    let e = c
        .merge_patch(
            &REPLICA_SETS,
            Some("default"),
            "r",
            &json!({"spec":{"selector":{"matchLabels":{"app":"a","x":"y"}},"template":{"metadata":{"labels":{"x":"y"}}}}}),
        )
        .unwrap_err();
    assert!(
        e.status()
            .unwrap()
            .message
            .contains("spec.selector: Invalid value"),
        "{e}"
    );
    assert!(
        e.status().unwrap().message.contains("field is immutable"),
        "{e}"
    );
    // Leases.
    let l = c
        .create(
            &LEASES,
            Some("kube-node-lease"),
            &json!({"metadata":{"name":"node-1"},"spec":{"holderIdentity":"node-1","leaseDurationSeconds":40}}),
        )
        .unwrap();
    assert_eq!(l["apiVersion"], "coordination.k8s.io/v1");
    let (_, msg) = create_err(
        &c,
        &LEASES,
        json!({"metadata":{"name":"x"},"spec":{"leaseDurationSeconds":0}}),
    );
    assert_eq!(
        msg,
        "Lease.coordination.k8s.io \"x\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    );
}

#[test]
fn events_aggregate_select_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    let sa = c
        .get(&SERVICE_ACCOUNTS, Some("default"), "default")
        .unwrap();
    let rec = EventRecorder::new(c.clone(), "kubelet", "node-2");
    rec.record(
        &sa,
        None,
        "Normal",
        "Pulled",
        "Container image \"nginx\" already present on machine",
    );
    rec.record(
        &sa,
        None,
        "Normal",
        "Pulled",
        "Container image \"nginx\" already present on machine",
    );
    rec.warning(&sa, "BackOff", "Back-off restarting failed container");
    rec.flush();
    let l = c
        .list(
            &EVENTS,
            Some("default"),
            None,
            Some(&format!(
                "involvedObject.name=default,involvedObject.namespace=default,involvedObject.kind=ServiceAccount,involvedObject.uid={}",
                sa.uid().unwrap()
            )),
        )
        .unwrap();
    assert_eq!(l.items.len(), 2);
    let pulled = l.items.iter().find(|e| e["reason"] == "Pulled").unwrap();
    assert_eq!(pulled["count"], 2);
    assert_eq!(pulled["type"], "Normal");
    assert_eq!(
        pulled["source"],
        json!({"component":"kubelet","host":"node-2"})
    );
    assert_eq!(pulled["reportingComponent"], "kubelet");
    assert_eq!(pulled["involvedObject"]["kind"], "ServiceAccount");
    assert!(pulled.name().starts_with("default."), "{}", pulled.name());
    assert!(pulled["firstTimestamp"].is_string() && pulled["lastTimestamp"].is_string());
    let warnings = c.list(&EVENTS, None, None, Some("type=Warning")).unwrap();
    assert_eq!(warnings.items.len(), 1);
    assert_eq!(warnings.items[0]["reason"], "BackOff");
    // An event of another namespace's object may not be filed here.
    let (_, msg) = create_err(
        &c,
        &EVENTS,
        json!({"metadata":{"name":"x.1"},"involvedObject":{"kind":"Pod","name":"p","namespace":"kube-system"},"reason":"R","message":"m"}),
    );
    assert_eq!(
        msg,
        "Event \"x.1\" is invalid: involvedObject.namespace: Invalid value: \"kube-system\": does not match event.namespace"
    );
    // Events older than the TTL are gone at the next list.
    c.create(
        &EVENTS,
        None,
        &json!({"metadata":{"name":"old.1"},"involvedObject":{"kind":"Pod","name":"p","namespace":"default"},
               "reason":"Old","message":"m","firstTimestamp":"2020-01-01T00:00:00Z","lastTimestamp":"2020-01-01T00:00:00Z"}),
    )
    .ok();
    let all = c.list(&EVENTS, Some("default"), None, None).unwrap();
    assert!(all.items.iter().all(|e| e["reason"] != "Old"));
    assert_eq!(all.items.len(), 2);
    // At most 200 per namespace: the oldest go.
    for i in 0..205 {
        rec.normal(&sa, "Spam", &format!("message {i}"));
    }
    rec.flush();
    let all = c.list(&EVENTS, Some("default"), None, None).unwrap();
    assert_eq!(all.items.len(), 200);
}

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";

fn kubectl(s: &EmbeddedServer, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {}\n  name: lab\ncontexts:\n- context:\n    cluster: lab\n    user: u\n  name: lab\ncurrent-context: lab\nusers:\n- name: u\n  user: {{}}\n",
            s.url()
        ),
    )
    .unwrap();
    let out = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kc)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_real_kubectl_reads_the_new_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let (ok, out, err) = kubectl(
        &s,
        dir.path(),
        &[
            "get",
            "configmap",
            "kube-proxy",
            "-n",
            "kube-system",
            "-o",
            "yaml",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.trim() == "mode: iptables"), "{out}");
    let (ok, out, err) = kubectl(
        &s,
        dir.path(),
        &["get", "sa", "default", "-o", "jsonpath={.metadata.name}"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "default");
    let (ok, out, err) = kubectl(
        &s,
        dir.path(),
        &["get", "ds", "-n", "kube-system", "-o", "name"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "daemonset.apps/calico-node\ndaemonset.apps/kube-proxy\n"
    );
    let rec = EventRecorder::new(s.client(), "default-scheduler", "");
    let sa = s
        .client()
        .get(&SERVICE_ACCOUNTS, Some("default"), "default")
        .unwrap();
    rec.warning(&sa, "FailedScheduling", "0/2 nodes are available");
    rec.flush();
    let (ok, out, err) = kubectl(
        &s,
        dir.path(),
        &[
            "get",
            "events",
            "--field-selector",
            "type=Warning",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "FailedScheduling");
}
