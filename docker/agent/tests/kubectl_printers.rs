//! `kubectl get` tables for the kinds kplab serves: the objects are stored in an in-process API
//! server, the real kubectl 1.33 prints the `Table` the server computes for them (columns, cell
//! formats, `-o wide`, `--show-labels`, `--show-kind`). The expected layouts are the real
//! kubectl's against a real cluster; AGE cells (all a few seconds old here) read `Xs`.

mod common;

use common::Kubectl;
use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{ApiClient, Resource};
use serde_json::{json, Value};

struct Lab {
    _server: EmbeddedServer,
    _dir: tempfile::TempDir,
    c: ApiClient,
    k: Kubectl,
}

impl Lab {
    fn new() -> Option<Lab> {
        let Some(bin) = common::real_kubectl() else {
            eprintln!(
                "SKIPPED: no real kubectl.{} (none beside `kubectl` on PATH, none in /usr/lib/google-cloud-sdk/bin)",
                common::VERSION
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
        let k = Kubectl::new(bin, dir.path(), server.url());
        let c = server.client();
        Some(Lab {
            _server: server,
            _dir: dir,
            c,
            k,
        })
    }

    /// Creates `obj` in `ns`, then writes its `status` as its controller or kubelet would.
    fn store(&self, ns: Option<&str>, obj: Value) {
        let kind = obj["kind"].as_str().unwrap();
        let r = Resource::by_kind(kind).unwrap();
        let mut created = self.c.create(r, ns, &obj).unwrap();
        if let Some(status) = obj.get("status") {
            let name = obj["metadata"]["name"].as_str().unwrap();
            created["status"] = status.clone();
            self.c.update_status(r, ns, name, &created).unwrap();
        }
    }

    /// `kubectl get ARGS`, its AGE cells (single-digit seconds here) as `Xs`.
    fn get(&self, args: &[&str]) -> String {
        let mut argv = vec!["get"];
        argv.extend_from_slice(args);
        let out = self.k.ok(&argv);
        out.split('\n')
            .map(|l| {
                l.split_inclusive(' ')
                    .map(|w| match w.trim_end().as_bytes() {
                        [d, b's'] if d.is_ascii_digit() => w.replacen(&w[..2], "Xs", 1),
                        _ => w.to_string(),
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[test]
fn services_and_their_external_ip_cells() {
    let Some(lab) = Lab::new() else { return };
    lab.store(
        Some("default"),
        json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"lb"},
        "spec":{"type":"LoadBalancer","clusterIP":"10.96.0.50","ports":[{"port":80,"nodePort":31000,"protocol":"TCP"}]}}),
    );
    lab.store(
        Some("default"),
        json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"db"},
        "spec":{"type":"ExternalName","externalName":"db.example.com"}}),
    );
    lab.store(
        Some("default"),
        json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"h"},
        "spec":{"type":"ClusterIP","clusterIP":"None","ports":[{"port":5432,"protocol":"TCP"}]}}),
    );
    assert_eq!(
        lab.get(&["svc", "lb", "db", "h"]),
        "\
NAME   TYPE           CLUSTER-IP   EXTERNAL-IP      PORT(S)        AGE
lb     LoadBalancer   10.96.0.50   <pending>        80:31000/TCP   Xs
db     ExternalName   <none>       db.example.com   <none>         Xs
h      ClusterIP      None         <none>           5432/TCP       Xs
"
    );
    lab.store(
        Some("kube-system"),
        json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-dns"},
        "spec":{"clusterIP":"10.96.0.10","selector":{"k8s-app":"kube-dns"},"ports":[
            {"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"},
            {"name":"metrics","port":9153,"protocol":"TCP"}]}}),
    );
    assert_eq!(
        lab.get(&[
            "svc",
            "-A",
            "--field-selector=metadata.name!=lb,metadata.name!=db,metadata.name!=h"
        ]),
        "\
NAMESPACE     NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                  AGE
default       kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP                  Xs
kube-system   kube-dns     ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP   Xs
"
    );
}

#[test]
fn endpoints_and_endpoint_slices() {
    let Some(lab) = Lab::new() else { return };
    lab.store(
        Some("default"),
        json!({"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web"},
        "subsets":[{"addresses":[{"ip":"10.244.1.5"},{"ip":"10.244.2.3"},{"ip":"10.244.2.4"},{"ip":"10.244.1.9"}],
                    "ports":[{"port":80,"protocol":"TCP"}]}]}),
    );
    lab.store(
        Some("default"),
        json!({"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"empty"}}),
    );
    assert_eq!(
        lab.get(&["endpoints", "web", "empty"]),
        "\
NAME    ENDPOINTS                                               AGE
web     10.244.1.5:80,10.244.2.3:80,10.244.2.4:80 + 1 more...   Xs
empty   <none>                                                  Xs
"
    );
    lab.store(
        Some("default"),
        json!({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-abc12"},
        "addressType":"IPv4","ports":[{"name":"","port":80,"protocol":"TCP"}],
        "endpoints":[{"addresses":["10.244.1.5"]},{"addresses":["10.244.2.3"]}]}),
    );
    lab.store(
        Some("default"),
        json!({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"db-x"},
        "addressType":"IPv4","endpoints":[]}),
    );
    assert_eq!(
        lab.get(&["endpointslices", "web-abc12", "db-x"]),
        "\
NAME        ADDRESSTYPE   PORTS     ENDPOINTS               AGE
web-abc12   IPv4          80        10.244.1.5,10.244.2.3   Xs
db-x        IPv4          <unset>   <unset>                 Xs
"
    );
}

#[test]
fn pods_wide_labels_and_terminating() {
    let Some(lab) = Lab::new() else { return };
    let pod = |name: &str, node: &str, ip: &str, restarts: i64| {
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"labels":{"app":"web","pod-template-hash":"7d4b9c8f5"}},
        "spec":{"nodeName":node,"containers":[{"name":"nginx","image":"nginx"}]},
        "status":{"phase":"Running","podIP":ip,"containerStatuses":[{"name":"nginx","ready":true,"restartCount":restarts,"image":"nginx","imageID":"","state":{"running":{"startedAt":"2026-11-23T04:58:31Z"}}}]}})
    };
    lab.store(
        Some("default"),
        pod("web-7d4b9c8f5-x2x9z", "node-1", "10.244.1.5", 0),
    );
    lab.store(
        Some("default"),
        pod("web-7d4b9c8f5-k8s7q", "node-2", "10.244.2.3", 2),
    );
    lab.store(
        Some("default"),
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-7d4b9c8f5-zzzzz"},
        "spec":{"containers":[{"name":"nginx","image":"nginx"}]},
        "status":{"phase":"Pending","containerStatuses":[{"name":"nginx","ready":false,"restartCount":0,"image":"nginx","imageID":"","state":{"waiting":{"reason":"ContainerCreating"}}}]}}),
    );
    // A pod on a node is deleted gracefully: it stays, terminating, until its kubelet is done.
    lab.k
        .ok(&["delete", "pod", "web-7d4b9c8f5-k8s7q", "--wait=false"]);
    let names = [
        "web-7d4b9c8f5-x2x9z",
        "web-7d4b9c8f5-k8s7q",
        "web-7d4b9c8f5-zzzzz",
    ];
    let mut args = vec!["pods"];
    args.extend(names);
    args.extend(["-o", "wide"]);
    assert_eq!(
        lab.get(&args),
        "\
NAME                  READY   STATUS              RESTARTS   AGE   IP           NODE     NOMINATED NODE   READINESS GATES
web-7d4b9c8f5-x2x9z   1/1     Running             0          Xs    10.244.1.5   node-1   <none>           <none>
web-7d4b9c8f5-k8s7q   1/1     Terminating         2          Xs    10.244.2.3   node-2   <none>           <none>
web-7d4b9c8f5-zzzzz   0/1     ContainerCreating   0          Xs    <none>       <none>   <none>           <none>
"
    );
    assert_eq!(
        lab.get(&["pod", names[0], "--show-labels", "--no-headers"]),
        "web-7d4b9c8f5-x2x9z   1/1   Running   0     Xs    app=web,pod-template-hash=7d4b9c8f5\n"
    );
}

#[test]
fn nodes_roles_and_wide() {
    let Some(lab) = Lab::new() else { return };
    let n = |name: &str, ip: &str, cp: bool, ready: &str| {
        let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
        if cp {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
        }
        json!({"apiVersion":"v1","kind":"Node","metadata":{"name":name,"labels":labels},
            "status":{"conditions":[{"type":"Ready","status":ready}],"addresses":[{"type":"InternalIP","address":ip},{"type":"Hostname","address":name}],
            "nodeInfo":{"kubeletVersion":"v1.32.0","osImage":"Debian GNU/Linux 12 (bookworm)","kernelVersion":"6.1.0-18-amd64","containerRuntimeVersion":"kplab://0.1.0"}}})
    };
    lab.store(None, n("node-1", "172.28.5.10", true, "True"));
    lab.store(None, n("node-2", "172.28.5.11", false, "False"));
    assert_eq!(
        lab.get(&["nodes"]),
        "\
NAME     STATUS     ROLES           AGE   VERSION
node-1   Ready      control-plane   Xs    v1.32.0
node-2   NotReady   <none>          Xs    v1.32.0
"
    );
    assert_eq!(
        lab.get(&["node", "node-1", "-o", "wide"]),
        "\
NAME     STATUS   ROLES           AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
node-1   Ready    control-plane   Xs    v1.32.0   172.28.5.10   <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   kplab://0.1.0
"
    );
}

#[test]
fn deployments_netpols_namespaces_and_kinds() {
    let Some(lab) = Lab::new() else { return };
    lab.store(
        Some("default"),
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}},
        "status":{"replicas":3,"readyReplicas":2,"updatedReplicas":3,"availableReplicas":2}}),
    );
    assert_eq!(
        lab.get(&["deploy", "web", "-o", "wide"]),
        "\
NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES       SELECTOR
web    2/3     3            2           Xs    nginx        nginx:1.27   app=web
"
    );
    let np = |name: &str, sel: Value| json!({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":name},"spec":{"podSelector":sel}});
    lab.store(Some("default"), np("deny-all", json!({})));
    lab.store(
        Some("default"),
        np(
            "allow-fe",
            json!({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"NotIn","values":["db","cache"]}]}),
        ),
    );
    assert_eq!(
        lab.get(&["netpol", "deny-all", "allow-fe"]),
        "\
NAME       POD-SELECTOR                    AGE
deny-all   <none>                          Xs
allow-fe   app=web,tier notin (cache,db)   Xs
"
    );
    assert_eq!(
        lab.get(&["ns", "kube-system"]),
        "NAME          STATUS   AGE\nkube-system   Active   Xs\n"
    );
    lab.store(
        Some("default"),
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"one"},
        "spec":{"replicas":1,"selector":{"matchLabels":{"app":"one"}},"template":{"metadata":{"labels":{"app":"one"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}),
    );
    assert_eq!(
        lab.get(&["deploy", "one", "--show-kind"]),
        "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE\ndeployment.apps/one   0/1     0            0           Xs\n"
    );
}
