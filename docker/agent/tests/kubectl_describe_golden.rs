//! Golden tests: kubectl's describe layouts, compared byte for byte with the output of the real
//! kubectl v1.32 (`describe` is client-side: the samples were produced by pointing it at a
//! static server holding the same objects).

use kplab_agent::kubectl::describe::{describe, Related, NETPOL_NOTE, POD_NOTE};
use serde_json::Value;

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-23 05:00:00 UTC)
}

fn obj(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn describe_service_nodeport_local() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": "2026-11-23T04:00:00Z", "uid": "u1", "resourceVersion": "10"}, "spec": {"selector": {"app": "web"}, "type": "NodePort", "clusterIP": "10.96.10.20", "clusterIPs": ["10.96.10.20"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "targetPort": "dns", "protocol": "UDP", "nodePort": 30053, "name": "dns"}], "sessionAffinity": "None", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31234, "internalTrafficPolicy": "Cluster"}}"#,
    );
    let related = Related {
        endpoint_slices: vec![obj(
            r#"{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-abc12", "namespace": "default", "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}, "creationTimestamp": "2026-11-23T04:00:00Z", "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "u1", "controller": true, "blockOwnerDeletion": true}]}, "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "p1"}}, {"addresses": ["10.244.2.9"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "node-2", "targetRef": {"kind": "Pod", "name": "web-2", "namespace": "default"}}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}"#,
        )],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:                     web
Namespace:                default
Labels:                   app=web
Annotations:              <none>
Selector:                 app=web
Type:                     NodePort
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.96.10.20
IPs:                      10.96.10.20
Port:                     http  80/TCP
TargetPort:               8080/TCP
NodePort:                 http  30080/TCP
Endpoints:                10.244.1.5:8080
Port:                     dns  53/UDP
TargetPort:               dns/UDP
NodePort:                 dns  30053/UDP
Endpoints:                
Session Affinity:         None
External Traffic Policy:  Local
Internal Traffic Policy:  Cluster
HealthCheck NodePort:     31234
Events:                   <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_service_clusterip_affinity() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "plain", "namespace": "default", "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"selector": {"app": "web", "tier": "fe"}, "type": "ClusterIP", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}], "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}, "internalTrafficPolicy": "Cluster"}}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:                     plain
Namespace:                default
Labels:                   <none>
Annotations:              <none>
Selector:                 app=web,tier=fe
Type:                     ClusterIP
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.96.0.5
IPs:                      10.96.0.5
Port:                     <unset>  80/TCP
TargetPort:               80/TCP
Endpoints:                <none>
Session Affinity:         ClientIP
Internal Traffic Policy:  Cluster
Events:                   <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_endpoints_with_subsets() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": "2026-11-23T04:00:00Z"}, "subsets": [{"addresses": [{"ip": "10.244.1.5", "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}, {"ip": "10.244.2.3", "nodeName": "node-2"}], "notReadyAddresses": [{"ip": "10.244.2.9"}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}]}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:         web
Namespace:    default
Labels:       app=web
Annotations:  <none>
Subsets:
  Addresses:          10.244.1.5,10.244.2.3
  NotReadyAddresses:  10.244.2.9
  Ports:
    Name  Port  Protocol
    ----  ----  --------
    http  8080  TCP
    dns   53    UDP

Events:  <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_endpoints_empty() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "plain", "namespace": "default", "creationTimestamp": "2026-11-23T04:00:00Z"}, "subsets": []}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:         plain
Namespace:    default
Labels:       <none>
Annotations:  <none>
Subsets:
Events:  <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_endpointslice() {
    let o = obj(
        r#"{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-abc12", "namespace": "default", "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}, "creationTimestamp": "2026-11-23T04:00:00Z", "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "u1", "controller": true, "blockOwnerDeletion": true}]}, "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "p1"}}, {"addresses": ["10.244.2.9"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "node-2", "targetRef": {"kind": "Pod", "name": "web-2", "namespace": "default"}}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:         web-abc12
Namespace:    default
Labels:       endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io
              kubernetes.io/service-name=web
Annotations:  <none>
AddressType:  IPv4
Ports:
  Name  Port  Protocol
  ----  ----  --------
  http  8080  TCP
Endpoints:
  - Addresses:  10.244.1.5
    Conditions:
      Ready:    true
    Hostname:   <unset>
    TargetRef:  Pod/web-1
    NodeName:   node-1
    Zone:       <unset>
  - Addresses:  10.244.2.9
    Conditions:
      Ready:    false
    Hostname:   <unset>
    TargetRef:  Pod/web-2
    NodeName:   node-2
    Zone:       <unset>
Events:         <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_pod_running() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-7d4b9c8f5-x2x9z", "generateName": "web-7d4b9c8f5-", "namespace": "default", "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"}, "creationTimestamp": "2026-11-23T04:00:00Z", "uid": "p1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f5", "uid": "rs1", "controller": true, "blockOwnerDeletion": true}]}, "spec": {"nodeName": "node-2", "containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP", "name": "dns"}], "env": [{"name": "A", "value": "b"}]}], "restartPolicy": "Always", "serviceAccountName": "default", "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority", "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}, {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}, "status": {"phase": "Running", "hostIP": "172.28.5.11", "hostIPs": [{"ip": "172.28.5.11"}], "podIP": "10.244.2.3", "podIPs": [{"ip": "10.244.2.3"}], "startTime": "2026-11-23T04:00:00Z", "qosClass": "BestEffort", "conditions": [{"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-23T04:00:00Z"}], "containerStatuses": [{"name": "nginx", "image": "nginx:1.27", "imageID": "", "containerID": "kplab://abc", "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-23T04:00:00Z"}}}]}}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:             web-7d4b9c8f5-x2x9z
Namespace:        default
Priority:         0
Service Account:  default
Node:             node-2/172.28.5.11
Start Time:       Mon, 23 Nov 2026 04:00:00 +0000
Labels:           app=web
                  pod-template-hash=7d4b9c8f5
Annotations:      <none>
Status:           Running
IP:               10.244.2.3
IPs:
  IP:           10.244.2.3
Controlled By:  ReplicaSet/web-7d4b9c8f5
Containers:
  nginx:
    Container ID:   kplab://abc
    Image:          nginx:1.27
    Image ID:       
    Ports:          80/TCP, 53/UDP
    Host Ports:     0/TCP, 0/UDP
    State:          Running
      Started:      Mon, 23 Nov 2026 04:00:00 +0000
    Ready:          True
    Restart Count:  0
    Environment:
      A:     b
    Mounts:  <none>
Conditions:
  Type                        Status
  PodReadyToStartContainers   True 
  Initialized                 True 
  Ready                       True 
  ContainersReady             True 
  PodScheduled                True 
Volumes:                      <none>
QoS Class:                    BestEffort
Node-Selectors:               <none>
Tolerations:                  node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                              node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
Events:                       <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

/// Probes as kubectl prints them (`DescribeProbe`), with the API defaults for omitted timing
/// fields; a pod without probes prints neither line (see `describe_pod_running`).
#[test]
fn describe_pod_probes() {
    let mut o = obj(
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-1", "namespace": "default", "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"nodeName": "node-1", "containers": [{"name": "api", "image": "kplab/echo", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}, "status": {"phase": "Running", "podIP": "10.244.1.3", "containerStatuses": [{"name": "api", "image": "kplab/echo", "imageID": "", "containerID": "kplab://a", "ready": false, "started": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-23T04:00:00Z"}}}]}}"#,
    );
    o["spec"]["containers"][0]["readinessProbe"] =
        obj(r#"{"httpGet": {"path": "/healthz", "port": 8081}, "periodSeconds": 2}"#);
    o["spec"]["containers"][0]["livenessProbe"] = obj(
        r#"{"tcpSocket": {"port": "http"}, "initialDelaySeconds": 5, "timeoutSeconds": 2, "failureThreshold": 6}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let lines: Vec<&str> = got.lines().collect();
    let restart = lines
        .iter()
        .position(|l| l.trim_start().starts_with("Restart Count:"))
        .expect("Restart Count line");
    let liveness =
        "    Liveness:       tcp-socket :http delay=5s timeout=2s period=10s #success=1 #failure=6";
    let readiness = "    Readiness:      http-get http://:8081/healthz delay=0s timeout=1s period=2s #success=1 #failure=3";
    assert_eq!(lines[restart + 1], liveness, "got:\n{got}");
    assert_eq!(lines[restart + 2], readiness, "got:\n{got}");
}

#[test]
fn describe_netpol_rules() {
    let o = obj(
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-fe", "namespace": "default", "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"], "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}, {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]}}, {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}}], "ports": [{"protocol": "TCP", "port": 80}, {"port": "http", "protocol": "TCP"}]}, {}], "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"protocol": "UDP", "port": 53}]}]}}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:         allow-fe
Namespace:    default
Created on:   2026-11-23 04:00:00 +0000 UTC
Labels:       <none>
Annotations:  <none>
Spec:
  PodSelector:     app=web
  Allowing ingress traffic:
    To Port: 80/TCP
    To Port: http/TCP
    From:
      PodSelector: role=frontend
    From:
      NamespaceSelector: team=a
      PodSelector: tier in (x,y)
    From:
      IPBlock:
        CIDR: 172.17.0.0/16
        Except: 172.17.1.0/24
    ----------
    To Port: <any> (traffic allowed to all ports)
    From: <any> (traffic not restricted by source)
  Allowing egress traffic:
    To Port: 53/UDP
    To:
      NamespaceSelector: <none>
  Policy Types: Ingress, Egress
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_netpol_deny_all() {
    let o = obj(
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-all", "namespace": "default", "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:         deny-all
Namespace:    default
Created on:   2026-11-23 04:00:00 +0000 UTC
Labels:       <none>
Annotations:  <none>
Spec:
  PodSelector:     <none> (Allowing the specific traffic to all pods in this namespace)
  Allowing ingress traffic:
    <none> (Selected pods are isolated for ingress connectivity)
  Not affecting egress traffic
  Policy Types: Ingress
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_deployment() {
    let o = obj(
        r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "1"}, "creationTimestamp": "2026-11-23T04:00:00Z", "generation": 1}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}, "minReadySeconds": 0, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}, "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2, "unavailableReplicas": 1, "observedGeneration": 1, "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": "2026-11-23T04:00:00Z", "lastTransitionTime": "2026-11-23T04:00:00Z"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "x", "lastUpdateTime": "2026-11-23T04:00:00Z", "lastTransitionTime": "2026-11-23T04:00:00Z"}]}}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:                   web
Namespace:              default
CreationTimestamp:      Mon, 23 Nov 2026 04:00:00 +0000
Labels:                 app=web
Annotations:            deployment.kubernetes.io/revision: 1
Selector:               app=web
Replicas:               3 desired | 3 updated | 3 total | 2 available | 1 unavailable
StrategyType:           RollingUpdate
MinReadySeconds:        0
RollingUpdateStrategy:  25% max unavailable, 25% max surge
Pod Template:
  Labels:  app=web
  Containers:
   nginx:
    Image:         nginx:1.27
    Port:          80/TCP
    Host Port:     0/TCP
    Environment:   <none>
    Mounts:        <none>
  Volumes:         <none>
  Node-Selectors:  <none>
  Tolerations:     <none>
Conditions:
  Type          Status  Reason
  ----          ------  ------
  Available     True    MinimumReplicasAvailable
  Progressing   True    NewReplicaSetAvailable
Events:         <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

#[test]
fn describe_node() {
    let o = obj(
        r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}, "annotations": {"projectcalico.org/IPv4VXLANTunnelAddr": "10.244.1.0"}, "creationTimestamp": "2026-11-23T04:00:00Z"}, "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}, "status": {"addresses": [{"type": "InternalIP", "address": "172.28.5.10"}, {"type": "Hostname", "address": "node-1"}], "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-23T04:00:00Z", "lastTransitionTime": "2026-11-23T04:00:00Z", "reason": "KubeletReady", "message": "kubelet is posting ready status"}], "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "kplab://0.1.0", "operatingSystem": "linux", "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": ""}, "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}, "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}"#,
    );
    let related = Related {
        endpoint_slices: vec![],
        node_pods: vec![],
    };
    let got = describe(&o, &related, now());
    let want = r#"Name:               node-1
Roles:              control-plane
Labels:             kubernetes.io/hostname=node-1
                    kubernetes.io/os=linux
                    node-role.kubernetes.io/control-plane=
Annotations:        projectcalico.org/IPv4VXLANTunnelAddr: 10.244.1.0
CreationTimestamp:  Mon, 23 Nov 2026 04:00:00 +0000
Taints:             <none>
Unschedulable:      false
Lease:
  HolderIdentity:  node-1
  AcquireTime:     <unset>
  RenewTime:       Mon, 23 Nov 2026 04:00:00 +0000
Conditions:
  Type    Status  LastHeartbeatTime                 LastTransitionTime                Reason         Message
  ----    ------  -----------------                 ------------------                ------         -------
  Ready   True    Mon, 23 Nov 2026 04:00:00 +0000   Mon, 23 Nov 2026 04:00:00 +0000   KubeletReady   kubelet is posting ready status
Addresses:
  InternalIP:  172.28.5.10
  Hostname:    node-1
Capacity:
  cpu:     2
  memory:  4Gi
  pods:    110
Allocatable:
  cpu:     2
  memory:  4Gi
  pods:    110
System Info:
  Machine ID:                 
  System UUID:                
  Boot ID:                    
  Kernel Version:             6.1.0-18-amd64
  OS Image:                   Debian GNU/Linux 12 (bookworm)
  Operating System:           linux
  Architecture:               amd64
  Container Runtime Version:  kplab://0.1.0
  Kubelet Version:            v1.32.0
  Kube-Proxy Version:         v1.32.0
PodCIDR:                      10.244.1.0/24
PodCIDRs:                     10.244.1.0/24
Non-terminated Pods:          (0 in total)
  Namespace                   Name    CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
  ---------                   ----    ------------  ----------  ---------------  -------------  ---
Allocated resources:
  (Total limits may be over 100 percent, i.e., overcommitted.)
  Resource           Requests  Limits
  --------           --------  ------
  cpu                0 (0%)    0 (0%)
  memory             0 (0%)    0 (0%)
  ephemeral-storage  0 (0%)    0 (0%)
Events:              <none>
"#;
    assert_eq!(strip_note(&got), want, "got:\n{got}");
}

/// The kplab notes are appended after kubectl's own text, separated by a blank line.
fn strip_note(s: &str) -> String {
    for note in [POD_NOTE, NETPOL_NOTE] {
        if let Some(i) = s.find(note) {
            assert!(s.ends_with(&format!("{note}\n")));
            return s[..i - 1].to_string();
        }
    }
    s.to_string()
}
