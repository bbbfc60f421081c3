//! Golden tests: `-o jsonpath`, `-o yaml` and `-o json` output compared byte for byte with the
//! real kubectl v1.32 printing the same objects.

use kplab_agent::kubectl::jsonpath::Template;
use kplab_agent::kubectl::output::{go_json_indent, go_yaml};
use serde_json::Value;

fn obj(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn jsonpath_templates_match_kubectl() {
    let list = obj(
        r#"{"apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": "2026-11-23T04:00:00Z", "uid": "u1", "resourceVersion": "10"}, "spec": {"selector": {"app": "web"}, "type": "NodePort", "clusterIP": "10.96.10.20", "clusterIPs": ["10.96.10.20"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "targetPort": "dns", "protocol": "UDP", "nodePort": 30053, "name": "dns"}], "sessionAffinity": "None", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31234, "internalTrafficPolicy": "Cluster"}}, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "plain", "namespace": "default", "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"selector": {"app": "web", "tier": "fe"}, "type": "ClusterIP", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}], "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}, "internalTrafficPolicy": "Cluster"}}], "kind": "List", "metadata": {"resourceVersion": ""}}"#,
    );
    let cases: &[(&str, &str)] = &[
        (r#"{.items[*].metadata.name}"#, r#"web plain"#),
        (
            r#"{range .items[*]}{.metadata.name}{"\t"}{.spec.clusterIP}{"\n"}{end}"#,
            r#"web	10.96.10.20
plain	10.96.0.5
"#,
        ),
        (
            r#"{.items[?(@.spec.type=="NodePort")].spec.ports[*].nodePort}"#,
            r#"30080 30053"#,
        ),
        (
            r#"{.items[0].spec.ports}"#,
            r#"[{"name":"http","nodePort":30080,"port":80,"protocol":"TCP","targetPort":8080},{"name":"dns","nodePort":30053,"port":53,"protocol":"UDP","targetPort":"dns"}]"#,
        ),
        (
            r#"{.items[*].spec.selector}"#,
            r#"{"app":"web"} {"app":"web","tier":"fe"}"#,
        ),
        (r#"{..port}"#, r#"80 53 80"#),
        (
            r#"{.items[0].spec.ports[-1:]}"#,
            r#"{"name":"dns","nodePort":30053,"port":53,"protocol":"UDP","targetPort":"dns"}"#,
        ),
        (
            r#"{range .items[*]}[{.metadata.name}]{range .spec.ports[*]}{.port},{end}{"\n"}{end}"#,
            r#"[web]80,53,
[plain]80,
"#,
        ),
        (
            r#"{.items[*].spec.ports[?(@.protocol=="UDP")].name}"#,
            r#"dns"#,
        ),
        (
            r#"{.items[1].spec.sessionAffinityConfig.clientIP.timeoutSeconds}"#,
            r#"10800"#,
        ),
        (r#"{.kind}"#, r#"List"#),
        (r#"x{.items[0].metadata.name}y"#, r#"xweby"#),
        (
            r#"{.items[0].spec.ports[0].targetPort}{"|"}{.items[0].spec.ports[1].targetPort}"#,
            r#"8080|dns"#,
        ),
        (
            r#"{.items[0].metadata['name','namespace']}"#,
            r#"web default"#,
        ),
        (r#"{.items[*].metadata.labels.app}"#, r#"web"#),
        (r#"{.items[0].spec.clusterIPs}"#, r#"["10.96.10.20"]"#),
        (
            r#"{.items[?(@.spec.sessionAffinity!="None")].metadata.name}"#,
            r#"plain"#,
        ),
        (r#"{.items[0].spec.ports[0:1].name}"#, r#"http"#),
        (r#"{.metadata}"#, r#"{"resourceVersion":""}"#),
        (r#"{.items[*].spec.ports[?(@.port>60)].port}"#, r#"80 80"#),
        (r#"{.nope.deeper}"#, r#""#),
    ];
    for (t, want) in cases {
        let got = Template::parse(t).unwrap().execute(&list).unwrap();
        assert_eq!(&got, want, "template {t}");
    }
}

#[test]
fn yaml_and_json_of_service_match_kubectl() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": "2026-11-23T04:00:00Z", "uid": "u1", "resourceVersion": "10"}, "spec": {"selector": {"app": "web"}, "type": "NodePort", "clusterIP": "10.96.10.20", "clusterIPs": ["10.96.10.20"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "targetPort": "dns", "protocol": "UDP", "nodePort": 30053, "name": "dns"}], "sessionAffinity": "None", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31234, "internalTrafficPolicy": "Cluster"}}"#,
    );
    assert_eq!(
        go_yaml(&o),
        r#"apiVersion: v1
kind: Service
metadata:
  creationTimestamp: "2026-11-23T04:00:00Z"
  labels:
    app: web
  name: web
  namespace: default
  resourceVersion: "10"
  uid: u1
spec:
  clusterIP: 10.96.10.20
  clusterIPs:
  - 10.96.10.20
  externalTrafficPolicy: Local
  healthCheckNodePort: 31234
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    nodePort: 30080
    port: 80
    protocol: TCP
    targetPort: 8080
  - name: dns
    nodePort: 30053
    port: 53
    protocol: UDP
    targetPort: dns
  selector:
    app: web
  sessionAffinity: None
  type: NodePort
"#
    );
    assert_eq!(
        go_json_indent(&o),
        r#"{
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "creationTimestamp": "2026-11-23T04:00:00Z",
        "labels": {
            "app": "web"
        },
        "name": "web",
        "namespace": "default",
        "resourceVersion": "10",
        "uid": "u1"
    },
    "spec": {
        "clusterIP": "10.96.10.20",
        "clusterIPs": [
            "10.96.10.20"
        ],
        "externalTrafficPolicy": "Local",
        "healthCheckNodePort": 31234,
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": [
            "IPv4"
        ],
        "ipFamilyPolicy": "SingleStack",
        "ports": [
            {
                "name": "http",
                "nodePort": 30080,
                "port": 80,
                "protocol": "TCP",
                "targetPort": 8080
            },
            {
                "name": "dns",
                "nodePort": 30053,
                "port": 53,
                "protocol": "UDP",
                "targetPort": "dns"
            }
        ],
        "selector": {
            "app": "web"
        },
        "sessionAffinity": "None",
        "type": "NodePort"
    }
}
"#
    );
}

#[test]
fn yaml_and_json_of_pod_match_kubectl() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-7d4b9c8f5-x2x9z", "generateName": "web-7d4b9c8f5-", "namespace": "default", "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"}, "creationTimestamp": "2026-11-23T04:00:00Z", "uid": "p1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f5", "uid": "rs1", "controller": true, "blockOwnerDeletion": true}]}, "spec": {"nodeName": "node-2", "containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP", "name": "dns"}], "env": [{"name": "A", "value": "b"}]}], "restartPolicy": "Always", "serviceAccountName": "default", "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority", "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}, {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}, "status": {"phase": "Running", "hostIP": "172.28.5.11", "hostIPs": [{"ip": "172.28.5.11"}], "podIP": "10.244.2.3", "podIPs": [{"ip": "10.244.2.3"}], "startTime": "2026-11-23T04:00:00Z", "qosClass": "BestEffort", "conditions": [{"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}], "containerStatuses": [{"name": "nginx", "image": "nginx:1.27", "imageID": "", "containerID": "kplab://abc", "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-23T04:00:00Z"}}}]}}"#,
    );
    assert_eq!(
        go_yaml(&o),
        r#"apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2026-11-23T04:00:00Z"
  generateName: web-7d4b9c8f5-
  labels:
    app: web
    pod-template-hash: 7d4b9c8f5
  name: web-7d4b9c8f5-x2x9z
  namespace: default
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: ReplicaSet
    name: web-7d4b9c8f5
    uid: rs1
  uid: p1
spec:
  containers:
  - env:
    - name: A
      value: b
    image: nginx:1.27
    name: nginx
    ports:
    - containerPort: 80
      protocol: TCP
    - containerPort: 53
      name: dns
      protocol: UDP
  enableServiceLinks: true
  nodeName: node-2
  preemptionPolicy: PreemptLowerPriority
  priority: 0
  restartPolicy: Always
  serviceAccountName: default
  tolerations:
  - effect: NoExecute
    key: node.kubernetes.io/not-ready
    operator: Exists
    tolerationSeconds: 300
  - effect: NoExecute
    key: node.kubernetes.io/unreachable
    operator: Exists
    tolerationSeconds: 300
status:
  conditions:
  - lastTransitionTime: "2026-11-23T04:00:00Z"
    status: "True"
    type: PodReadyToStartContainers
  - lastTransitionTime: "2026-11-23T04:00:00Z"
    status: "True"
    type: Initialized
  - lastTransitionTime: "2026-11-23T04:00:00Z"
    status: "True"
    type: Ready
  - lastTransitionTime: "2026-11-23T04:00:00Z"
    status: "True"
    type: ContainersReady
  - lastTransitionTime: "2026-11-23T04:00:00Z"
    status: "True"
    type: PodScheduled
  containerStatuses:
  - containerID: kplab://abc
    image: nginx:1.27
    imageID: ""
    name: nginx
    ready: true
    restartCount: 0
    started: true
    state:
      running:
        startedAt: "2026-11-23T04:00:00Z"
  hostIP: 172.28.5.11
  hostIPs:
  - ip: 172.28.5.11
  phase: Running
  podIP: 10.244.2.3
  podIPs:
  - ip: 10.244.2.3
  qosClass: BestEffort
  startTime: "2026-11-23T04:00:00Z"
"#
    );
    assert_eq!(
        go_json_indent(&o),
        r#"{
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "creationTimestamp": "2026-11-23T04:00:00Z",
        "generateName": "web-7d4b9c8f5-",
        "labels": {
            "app": "web",
            "pod-template-hash": "7d4b9c8f5"
        },
        "name": "web-7d4b9c8f5-x2x9z",
        "namespace": "default",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": true,
                "controller": true,
                "kind": "ReplicaSet",
                "name": "web-7d4b9c8f5",
                "uid": "rs1"
            }
        ],
        "uid": "p1"
    },
    "spec": {
        "containers": [
            {
                "env": [
                    {
                        "name": "A",
                        "value": "b"
                    }
                ],
                "image": "nginx:1.27",
                "name": "nginx",
                "ports": [
                    {
                        "containerPort": 80,
                        "protocol": "TCP"
                    },
                    {
                        "containerPort": 53,
                        "name": "dns",
                        "protocol": "UDP"
                    }
                ]
            }
        ],
        "enableServiceLinks": true,
        "nodeName": "node-2",
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "serviceAccountName": "default",
        "tolerations": [
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "tolerationSeconds": 300
            },
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "tolerationSeconds": 300
            }
        ]
    },
    "status": {
        "conditions": [
            {
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "status": "True",
                "type": "PodReadyToStartContainers"
            },
            {
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "status": "True",
                "type": "Initialized"
            },
            {
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "status": "True",
                "type": "Ready"
            },
            {
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "status": "True",
                "type": "ContainersReady"
            },
            {
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "status": "True",
                "type": "PodScheduled"
            }
        ],
        "containerStatuses": [
            {
                "containerID": "kplab://abc",
                "image": "nginx:1.27",
                "imageID": "",
                "name": "nginx",
                "ready": true,
                "restartCount": 0,
                "started": true,
                "state": {
                    "running": {
                        "startedAt": "2026-11-23T04:00:00Z"
                    }
                }
            }
        ],
        "hostIP": "172.28.5.11",
        "hostIPs": [
            {
                "ip": "172.28.5.11"
            }
        ],
        "phase": "Running",
        "podIP": "10.244.2.3",
        "podIPs": [
            {
                "ip": "10.244.2.3"
            }
        ],
        "qosClass": "BestEffort",
        "startTime": "2026-11-23T04:00:00Z"
    }
}
"#
    );
}

#[test]
fn yaml_and_json_of_node_match_kubectl() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}, "annotations": {"projectcalico.org/IPv4VXLANTunnelAddr": "10.244.1.0"}, "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}, "status": {"addresses": [{"type": "InternalIP", "address": "172.28.5.10"}, {"type": "Hostname", "address": "node-1"}], "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-23T04:00:00Z", "lastTransitionTime": "2026-11-23T04:00:00Z", "reason": "KubeletReady", "message": "kubelet is posting ready status"}], "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "kplab://0.1.0", "operatingSystem": "linux", "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": ""}, "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}, "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}"#,
    );
    assert_eq!(
        go_yaml(&o),
        r#"apiVersion: v1
kind: Node
metadata:
  annotations:
    projectcalico.org/IPv4VXLANTunnelAddr: 10.244.1.0
  creationTimestamp: "2026-11-23T04:00:00Z"
  labels:
    kubernetes.io/hostname: node-1
    kubernetes.io/os: linux
    node-role.kubernetes.io/control-plane: ""
  name: node-1
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs:
  - 10.244.1.0/24
status:
  addresses:
  - address: 172.28.5.10
    type: InternalIP
  - address: node-1
    type: Hostname
  allocatable:
    cpu: "2"
    memory: 4Gi
    pods: "110"
  capacity:
    cpu: "2"
    memory: 4Gi
    pods: "110"
  conditions:
  - lastHeartbeatTime: "2026-11-23T04:00:00Z"
    lastTransitionTime: "2026-11-23T04:00:00Z"
    message: kubelet is posting ready status
    reason: KubeletReady
    status: "True"
    type: Ready
  nodeInfo:
    architecture: amd64
    bootID: ""
    containerRuntimeVersion: kplab://0.1.0
    kernelVersion: 6.1.0-18-amd64
    kubeProxyVersion: v1.32.0
    kubeletVersion: v1.32.0
    machineID: ""
    operatingSystem: linux
    osImage: Debian GNU/Linux 12 (bookworm)
    systemUUID: ""
"#
    );
    assert_eq!(
        go_json_indent(&o),
        r#"{
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "annotations": {
            "projectcalico.org/IPv4VXLANTunnelAddr": "10.244.1.0"
        },
        "creationTimestamp": "2026-11-23T04:00:00Z",
        "labels": {
            "kubernetes.io/hostname": "node-1",
            "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": ""
        },
        "name": "node-1"
    },
    "spec": {
        "podCIDR": "10.244.1.0/24",
        "podCIDRs": [
            "10.244.1.0/24"
        ]
    },
    "status": {
        "addresses": [
            {
                "address": "172.28.5.10",
                "type": "InternalIP"
            },
            {
                "address": "node-1",
                "type": "Hostname"
            }
        ],
        "allocatable": {
            "cpu": "2",
            "memory": "4Gi",
            "pods": "110"
        },
        "capacity": {
            "cpu": "2",
            "memory": "4Gi",
            "pods": "110"
        },
        "conditions": [
            {
                "lastHeartbeatTime": "2026-11-23T04:00:00Z",
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "message": "kubelet is posting ready status",
                "reason": "KubeletReady",
                "status": "True",
                "type": "Ready"
            }
        ],
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": "",
            "containerRuntimeVersion": "kplab://0.1.0",
            "kernelVersion": "6.1.0-18-amd64",
            "kubeProxyVersion": "v1.32.0",
            "kubeletVersion": "v1.32.0",
            "machineID": "",
            "operatingSystem": "linux",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "systemUUID": ""
        }
    }
}
"#
    );
}

#[test]
fn yaml_and_json_of_netpol_match_kubectl() {
    let o = obj(
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-fe", "namespace": "default", "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"], "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}, {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]}}, {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}}], "ports": [{"protocol": "TCP", "port": 80}, {"port": "http", "protocol": "TCP"}]}, {}], "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"protocol": "UDP", "port": 53}]}]}}"#,
    );
    assert_eq!(
        go_yaml(&o),
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  creationTimestamp: "2026-11-23T04:00:00Z"
  name: allow-fe
  namespace: default
spec:
  egress:
  - ports:
    - port: 53
      protocol: UDP
    to:
    - namespaceSelector: {}
  ingress:
  - from:
    - podSelector:
        matchLabels:
          role: frontend
    - namespaceSelector:
        matchLabels:
          team: a
      podSelector:
        matchExpressions:
        - key: tier
          operator: In
          values:
          - x
          - "y"
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    ports:
    - port: 80
      protocol: TCP
    - port: http
      protocol: TCP
  - {}
  podSelector:
    matchLabels:
      app: web
  policyTypes:
  - Ingress
  - Egress
"#
    );
    assert_eq!(
        go_json_indent(&o),
        r#"{
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
        "creationTimestamp": "2026-11-23T04:00:00Z",
        "name": "allow-fe",
        "namespace": "default"
    },
    "spec": {
        "egress": [
            {
                "ports": [
                    {
                        "port": 53,
                        "protocol": "UDP"
                    }
                ],
                "to": [
                    {
                        "namespaceSelector": {}
                    }
                ]
            }
        ],
        "ingress": [
            {
                "from": [
                    {
                        "podSelector": {
                            "matchLabels": {
                                "role": "frontend"
                            }
                        }
                    },
                    {
                        "namespaceSelector": {
                            "matchLabels": {
                                "team": "a"
                            }
                        },
                        "podSelector": {
                            "matchExpressions": [
                                {
                                    "key": "tier",
                                    "operator": "In",
                                    "values": [
                                        "x",
                                        "y"
                                    ]
                                }
                            ]
                        }
                    },
                    {
                        "ipBlock": {
                            "cidr": "172.17.0.0/16",
                            "except": [
                                "172.17.1.0/24"
                            ]
                        }
                    }
                ],
                "ports": [
                    {
                        "port": 80,
                        "protocol": "TCP"
                    },
                    {
                        "port": "http",
                        "protocol": "TCP"
                    }
                ]
            },
            {}
        ],
        "podSelector": {
            "matchLabels": {
                "app": "web"
            }
        },
        "policyTypes": [
            "Ingress",
            "Egress"
        ]
    }
}
"#
    );
}

#[test]
fn yaml_and_json_of_deployment_match_kubectl() {
    let o = obj(
        r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "1"}, "creationTimestamp": "2026-11-23T04:00:00Z", "generation": 1}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}, "minReadySeconds": 0, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}, "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2, "unavailableReplicas": 1, "observedGeneration": 1, "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": "2026-11-23T04:00:00Z", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "x", "lastUpdateTime": "2026-11-23T04:00:00Z", "lastTransitionTime": "2026-11-23T04:00:00Z"}]}}"#,
    );
    assert_eq!(
        go_yaml(&o),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    deployment.kubernetes.io/revision: "1"
  creationTimestamp: "2026-11-23T04:00:00Z"
  generation: 1
  labels:
    app: web
  name: web
  namespace: default
spec:
  minReadySeconds: 0
  progressDeadlineSeconds: 600
  replicas: 3
  revisionHistoryLimit: 10
  selector:
    matchLabels:
      app: web
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 25%
    type: RollingUpdate
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - image: nginx:1.27
        name: nginx
        ports:
        - containerPort: 80
          protocol: TCP
status:
  availableReplicas: 2
  conditions:
  - lastTransitionTime: "2026-11-23T04:00:00Z"
    lastUpdateTime: "2026-11-23T04:00:00Z"
    message: Deployment has minimum availability.
    reason: MinimumReplicasAvailable
    status: "True"
    type: Available
  - lastTransitionTime: "2026-11-23T04:00:00Z"
    lastUpdateTime: "2026-11-23T04:00:00Z"
    message: x
    reason: NewReplicaSetAvailable
    status: "True"
    type: Progressing
  observedGeneration: 1
  readyReplicas: 2
  replicas: 3
  unavailableReplicas: 1
  updatedReplicas: 3
"#
    );
    assert_eq!(
        go_json_indent(&o),
        r#"{
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "annotations": {
            "deployment.kubernetes.io/revision": "1"
        },
        "creationTimestamp": "2026-11-23T04:00:00Z",
        "generation": 1,
        "labels": {
            "app": "web"
        },
        "name": "web",
        "namespace": "default"
    },
    "spec": {
        "minReadySeconds": 0,
        "progressDeadlineSeconds": 600,
        "replicas": 3,
        "revisionHistoryLimit": 10,
        "selector": {
            "matchLabels": {
                "app": "web"
            }
        },
        "strategy": {
            "rollingUpdate": {
                "maxSurge": "25%",
                "maxUnavailable": "25%"
            },
            "type": "RollingUpdate"
        },
        "template": {
            "metadata": {
                "labels": {
                    "app": "web"
                }
            },
            "spec": {
                "containers": [
                    {
                        "image": "nginx:1.27",
                        "name": "nginx",
                        "ports": [
                            {
                                "containerPort": 80,
                                "protocol": "TCP"
                            }
                        ]
                    }
                ]
            }
        }
    },
    "status": {
        "availableReplicas": 2,
        "conditions": [
            {
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "lastUpdateTime": "2026-11-23T04:00:00Z",
                "message": "Deployment has minimum availability.",
                "reason": "MinimumReplicasAvailable",
                "status": "True",
                "type": "Available"
            },
            {
                "lastTransitionTime": "2026-11-23T04:00:00Z",
                "lastUpdateTime": "2026-11-23T04:00:00Z",
                "message": "x",
                "reason": "NewReplicaSetAvailable",
                "status": "True",
                "type": "Progressing"
            }
        ],
        "observedGeneration": 1,
        "readyReplicas": 2,
        "replicas": 3,
        "unavailableReplicas": 1,
        "updatedReplicas": 3
    }
}
"#
    );
}
