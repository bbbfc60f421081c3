//! Table printer tests: `kubectl get` layouts (columns, cell formats, tabwriter padding) for
//! every kind kplab serves, against output samples of the real kubectl.

use kplab_agent::kube::client::Resource;
use kplab_agent::kubectl::printers::{table, TableOptions};
use serde_json::{json, Value};

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-23 05:00:00 UTC)
}

fn opts() -> TableOptions {
    TableOptions {
        wide: false,
        show_labels: false,
        no_headers: false,
        with_namespace: false,
        with_kind: false,
        now: now(),
    }
}

fn res(kind: &str) -> &'static Resource {
    Resource::by_kind(kind).unwrap()
}

fn svc(ns: &str, name: &str, ty: &str, ip: &str, ports: Value, created: &str) -> Value {
    json!({"kind":"Service","metadata":{"name":name,"namespace":ns,"creationTimestamp":created},
        "spec":{"type":ty,"clusterIP":ip,"ports":ports,"selector":{"k8s-app":"kube-dns"}}})
}

#[test]
fn services_all_namespaces() {
    let items = vec![
        svc(
            "default",
            "kubernetes",
            "ClusterIP",
            "10.96.0.1",
            json!([{"port":443,"protocol":"TCP"}]),
            "2026-11-18T05:00:00Z",
        ),
        svc(
            "kube-system",
            "kube-dns",
            "ClusterIP",
            "10.96.0.10",
            json!([{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"},{"name":"metrics","port":9153,"protocol":"TCP"}]),
            "2026-11-18T05:00:00Z",
        ),
        svc(
            "default",
            "web",
            "NodePort",
            "10.96.120.7",
            json!([{"port":80,"protocol":"TCP","nodePort":30080}]),
            "2026-11-23T04:56:48Z",
        ),
    ];
    let mut o = opts();
    o.with_namespace = true;
    assert_eq!(
        table(res("Service"), &items, &o),
        "\
NAMESPACE     NAME         TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)                  AGE
default       kubernetes   ClusterIP   10.96.0.1     <none>        443/TCP                  5d
kube-system   kube-dns     ClusterIP   10.96.0.10    <none>        53/UDP,53/TCP,9153/TCP   5d
default       web          NodePort    10.96.120.7   <none>        80:30080/TCP             3m12s
"
    );
    o.with_namespace = false;
    o.wide = true;
    let t = table(res("Service"), &items[1..2], &o);
    assert_eq!(
        t,
        "\
NAME       TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                  AGE   SELECTOR
kube-dns   ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP   5d    k8s-app=kube-dns
"
    );
}

#[test]
fn service_external_ip_cells() {
    let lb = json!({"kind":"Service","metadata":{"name":"lb","creationTimestamp":"2026-11-23T05:00:00Z"},
        "spec":{"type":"LoadBalancer","clusterIP":"10.96.0.50","ports":[{"port":80,"nodePort":31000,"protocol":"TCP"}]}});
    let ext = json!({"kind":"Service","metadata":{"name":"db","creationTimestamp":"2026-11-23T05:00:00Z"},
        "spec":{"type":"ExternalName","externalName":"db.example.com"}});
    let headless = json!({"kind":"Service","metadata":{"name":"h","creationTimestamp":"2026-11-23T05:00:00Z"},
        "spec":{"type":"ClusterIP","clusterIP":"None","ports":[{"port":5432,"protocol":"TCP"}]}});
    assert_eq!(
        table(res("Service"), &[lb, ext, headless], &opts()),
        "\
NAME   TYPE           CLUSTER-IP   EXTERNAL-IP      PORT(S)        AGE
lb     LoadBalancer   10.96.0.50   <pending>        80:31000/TCP   0s
db     ExternalName   <none>       db.example.com   <none>         0s
h      ClusterIP      None         <none>           5432/TCP       0s
"
    );
}

#[test]
fn endpoints_shows_three_then_more() {
    let ep = json!({"kind":"Endpoints","metadata":{"name":"web","creationTimestamp":"2026-11-23T04:55:00Z"},
        "subsets":[{"addresses":[{"ip":"10.244.1.5"},{"ip":"10.244.2.3"},{"ip":"10.244.2.4"},{"ip":"10.244.1.9"}],
                    "ports":[{"port":80,"protocol":"TCP"}]}]});
    let none = json!({"kind":"Endpoints","metadata":{"name":"empty","creationTimestamp":"2026-11-23T04:55:00Z"}});
    assert_eq!(
        table(res("Endpoints"), &[ep, none], &opts()),
        "\
NAME    ENDPOINTS                                               AGE
web     10.244.1.5:80,10.244.2.3:80,10.244.2.4:80 + 1 more...   5m
empty   <none>                                                  5m
"
    );
}

#[test]
fn endpoint_slices() {
    let s = json!({"kind":"EndpointSlice","metadata":{"name":"web-abc12","creationTimestamp":"2026-11-23T04:00:00Z"},
        "addressType":"IPv4","ports":[{"name":"","port":80,"protocol":"TCP"}],
        "endpoints":[{"addresses":["10.244.1.5"]},{"addresses":["10.244.2.3"]}]});
    let empty = json!({"kind":"EndpointSlice","metadata":{"name":"db-x","creationTimestamp":"2026-11-23T04:00:00Z"},
        "addressType":"IPv4","endpoints":[]});
    assert_eq!(
        table(res("EndpointSlice"), &[s, empty], &opts()),
        "\
NAME        ADDRESSTYPE   PORTS     ENDPOINTS               AGE
web-abc12   IPv4          80        10.244.1.5,10.244.2.3   60m
db-x        IPv4          <unset>   <unset>                 60m
"
    );
}

fn pod(name: &str, node: &str, ip: &str, ready: bool, restarts: i64, terminating: bool) -> Value {
    let mut p = json!({"kind":"Pod","metadata":{"name":name,"namespace":"default","creationTimestamp":"2026-11-23T04:58:30Z","labels":{"app":"web","pod-template-hash":"7d4b9c8f5"}},
        "spec":{"nodeName":node,"containers":[{"name":"nginx","image":"nginx"}]},
        "status":{"phase":"Running","podIP":ip,"containerStatuses":[{"name":"nginx","ready":ready,"restartCount":restarts,"state":{"running":{"startedAt":"2026-11-23T04:58:31Z"}}}]}});
    if terminating {
        p["metadata"]["deletionTimestamp"] = json!("2026-11-23T04:59:59Z");
    }
    p
}

#[test]
fn pods_wide_labels_and_terminating() {
    let pending = json!({"kind":"Pod","metadata":{"name":"web-7d4b9c8f5-zzzzz","creationTimestamp":"2026-11-23T04:59:58Z"},
        "spec":{"containers":[{"name":"nginx","image":"nginx"}]},
        "status":{"phase":"Pending","containerStatuses":[{"name":"nginx","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}]}});
    let items = vec![
        pod(
            "web-7d4b9c8f5-x2x9z",
            "node-1",
            "10.244.1.5",
            true,
            0,
            false,
        ),
        pod("web-7d4b9c8f5-k8s7q", "node-2", "10.244.2.3", true, 2, true),
        pending,
    ];
    let mut o = opts();
    o.wide = true;
    assert_eq!(
        table(res("Pod"), &items, &o),
        "\
NAME                  READY   STATUS              RESTARTS   AGE   IP           NODE     NOMINATED NODE   READINESS GATES
web-7d4b9c8f5-x2x9z   1/1     Running             0          90s   10.244.1.5   node-1   <none>           <none>
web-7d4b9c8f5-k8s7q   1/1     Terminating         2          90s   10.244.2.3   node-2   <none>           <none>
web-7d4b9c8f5-zzzzz   0/1     ContainerCreating   0          2s    <none>       <none>   <none>           <none>
"
    );
    let mut o = opts();
    o.show_labels = true;
    o.no_headers = true;
    assert_eq!(
        table(res("Pod"), &items[..1], &o),
        "web-7d4b9c8f5-x2x9z   1/1   Running   0     90s   app=web,pod-template-hash=7d4b9c8f5\n"
    );
}

#[test]
fn nodes_roles_and_wide() {
    let n = |name: &str, ip: &str, cp: bool, ready: &str| {
        let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
        if cp {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
        }
        json!({"kind":"Node","metadata":{"name":name,"labels":labels,"creationTimestamp":"2026-11-21T02:00:00Z"},
            "status":{"conditions":[{"type":"Ready","status":ready}],"addresses":[{"type":"InternalIP","address":ip},{"type":"Hostname","address":name}],
            "nodeInfo":{"kubeletVersion":"v1.32.0","osImage":"Debian GNU/Linux 12 (bookworm)","kernelVersion":"6.1.0-18-amd64","containerRuntimeVersion":"kplab://0.1.0"}}})
    };
    let items = vec![
        n("node-1", "172.28.5.10", true, "True"),
        n("node-2", "172.28.5.11", false, "False"),
    ];
    assert_eq!(
        table(res("Node"), &items, &opts()),
        "\
NAME     STATUS     ROLES           AGE    VERSION
node-1   Ready      control-plane   2d3h   v1.32.0
node-2   NotReady   <none>          2d3h   v1.32.0
"
    );
    let mut o = opts();
    o.wide = true;
    assert_eq!(
        table(res("Node"), &items[..1], &o),
        "\
NAME     STATUS   ROLES           AGE    VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
node-1   Ready    control-plane   2d3h   v1.32.0   172.28.5.10   <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   kplab://0.1.0
"
    );
}

#[test]
fn deployments_netpols_namespaces() {
    let d = json!({"kind":"Deployment","metadata":{"name":"web","creationTimestamp":"2026-11-23T02:00:00Z"},
        "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}},
        "status":{"readyReplicas":2,"updatedReplicas":3,"availableReplicas":2}});
    let mut o = opts();
    o.wide = true;
    assert_eq!(
        table(res("Deployment"), &[d], &o),
        "\
NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES       SELECTOR
web    2/3     3            2           3h    nginx        nginx:1.27   app=web
"
    );
    let np = |name: &str, sel: Value| json!({"kind":"NetworkPolicy","metadata":{"name":name,"creationTimestamp":"2026-11-23T04:59:00Z"},"spec":{"podSelector":sel}});
    assert_eq!(
        table(
            res("NetworkPolicy"),
            &[
                np("deny-all", json!({})),
                np(
                    "allow-fe",
                    json!({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"NotIn","values":["db","cache"]}]})
                )
            ],
            &opts()
        ),
        "\
NAME       POD-SELECTOR                    AGE
deny-all   <none>                          60s
allow-fe   app=web,tier notin (cache,db)   60s
"
    );
    let ns = json!({"kind":"Namespace","metadata":{"name":"kube-system","creationTimestamp":"2026-10-01T00:00:00Z"},"status":{"phase":"Active"}});
    assert_eq!(
        table(res("Namespace"), &[ns], &opts()),
        "NAME          STATUS   AGE\nkube-system   Active   53d\n"
    );
}

#[test]
fn multi_type_names_carry_the_kind() {
    let mut o = opts();
    o.with_kind = true;
    let d = json!({"kind":"Deployment","metadata":{"name":"web","creationTimestamp":"2026-11-23T04:59:00Z"},"spec":{"replicas":1},"status":{}});
    assert_eq!(
        table(res("Deployment"), &[d], &o),
        "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE\ndeployment.apps/web   0/1     0            0           60s\n"
    );
}
