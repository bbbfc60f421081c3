//! What the API server knows of a kind's fields when it merges: the patch strategy and merge key
//! of every list that strategic merge patch treats specially (the Go types' `patchStrategy` /
//! `patchMergeKey` tags), the list types server-side apply uses (`+listType`, `+listMapKey`),
//! and which fields exist at all (for `fieldValidation`).
//!
//! ONE table, [`FIELDS`], written by hand for the kinds the lab serves. Everything else reads it
//! through [`root_type`], [`field`] and [`known_field`], so that it can be swapped for a table
//! generated from the Kubernetes schema without touching the merge code. A field that is not in
//! the table merges with the defaults: maps key by key, lists replaced (atomic).

/// How server-side apply treats a list (`+listType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole (the default).
    Atomic,
    /// A set of scalars (`v:` entries in managedFields).
    Set,
    /// A list of objects keyed by these fields (`k:` entries in managedFields).
    Map(&'static [&'static str]),
}

/// What the schema says about one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The type of the value, or of a list's items (`""`: scalar or not described).
    pub ty: &'static str,
    /// Strategic merge patch: lists merge (by [`Field::merge_key`] for objects, as a set for
    /// scalars) instead of being replaced.
    pub merge: bool,
    /// Strategic merge patch: the map is replaced, not merged (`patchStrategy:"replace"`).
    pub replace: bool,
    /// `patchStrategy` includes `retainKeys`.
    pub retain_keys: bool,
    /// `patchMergeKey` (`""` for none).
    pub merge_key: &'static str,
    /// Server-side apply's list type.
    pub list: ListType,
}

const fn f(ty: &'static str) -> Field {
    Field {
        ty,
        merge: false,
        replace: false,
        retain_keys: false,
        merge_key: "",
        list: ListType::Atomic,
    }
}

/// A list of objects merged by `key` (SMP) and keyed by `keys` (apply).
const fn keyed(ty: &'static str, key: &'static str, keys: &'static [&'static str]) -> Field {
    Field {
        ty,
        merge: true,
        replace: false,
        retain_keys: false,
        merge_key: key,
        list: ListType::Map(keys),
    }
}

/// A list of scalars merged as a set.
const fn set() -> Field {
    Field {
        ty: "",
        merge: true,
        replace: false,
        retain_keys: false,
        merge_key: "",
        list: ListType::Set,
    }
}

/// A list keyed for apply (`+listType=map`) that strategic merge patch still replaces.
const fn map_only(ty: &'static str, keys: &'static [&'static str]) -> Field {
    Field {
        ty,
        merge: false,
        replace: false,
        retain_keys: false,
        merge_key: "",
        list: ListType::Map(keys),
    }
}

const fn retain(mut fl: Field) -> Field {
    fl.retain_keys = true;
    fl
}

const NAME: &[&str] = &["name"];
const TYPE: &[&str] = &["type"];
const IP: &[&str] = &["ip"];

/// (type, field, what the field is). Types are named as in the Go API (`PodSpec`), the roots
/// after their kind.
pub const FIELDS: &[(&str, &str, Field)] = &[
    // Every object.
    ("ObjectMeta", "labels", f("")),
    ("ObjectMeta", "annotations", f("")),
    ("ObjectMeta", "finalizers", set()),
    (
        "ObjectMeta",
        "ownerReferences",
        keyed("OwnerReference", "uid", &["uid"]),
    ),
    ("ObjectMeta", "managedFields", f("ManagedFieldsEntry")),
    ("LabelSelector", "matchLabels", f("")),
    (
        "LabelSelector",
        "matchExpressions",
        f("LabelSelectorRequirement"),
    ),
    // core/v1 Pod.
    ("Pod", "metadata", f("ObjectMeta")),
    ("Pod", "spec", f("PodSpec")),
    ("Pod", "status", f("PodStatus")),
    ("PodTemplateSpec", "metadata", f("ObjectMeta")),
    ("PodTemplateSpec", "spec", f("PodSpec")),
    ("PodSpec", "containers", keyed("Container", "name", NAME)),
    (
        "PodSpec",
        "initContainers",
        keyed("Container", "name", NAME),
    ),
    (
        "PodSpec",
        "ephemeralContainers",
        keyed("Container", "name", NAME),
    ),
    ("PodSpec", "volumes", retain(keyed("Volume", "name", NAME))),
    (
        "PodSpec",
        "imagePullSecrets",
        keyed("LocalObjectReference", "name", NAME),
    ),
    ("PodSpec", "hostAliases", keyed("HostAlias", "ip", IP)),
    (
        "PodSpec",
        "topologySpreadConstraints",
        keyed(
            "TopologySpreadConstraint",
            "topologyKey",
            &["topologyKey", "whenUnsatisfiable"],
        ),
    ),
    ("PodSpec", "tolerations", f("Toleration")),
    ("PodSpec", "readinessGates", f("PodReadinessGate")),
    (
        "PodSpec",
        "resourceClaims",
        retain(keyed("PodResourceClaim", "name", NAME)),
    ),
    (
        "PodSpec",
        "schedulingGates",
        keyed("PodSchedulingGate", "name", NAME),
    ),
    ("PodSpec", "nodeSelector", f("")),
    ("PodSpec", "affinity", f("Affinity")),
    ("PodSpec", "securityContext", f("PodSecurityContext")),
    ("PodSpec", "dnsConfig", f("PodDNSConfig")),
    ("PodSpec", "overhead", f("")),
    ("PodSpec", "os", f("PodOS")),
    (
        "Container",
        "ports",
        keyed(
            "ContainerPort",
            "containerPort",
            &["containerPort", "protocol"],
        ),
    ),
    ("Container", "env", keyed("EnvVar", "name", NAME)),
    ("Container", "envFrom", f("EnvFromSource")),
    (
        "Container",
        "volumeMounts",
        keyed("VolumeMount", "mountPath", &["mountPath"]),
    ),
    (
        "Container",
        "volumeDevices",
        keyed("VolumeDevice", "devicePath", &["devicePath"]),
    ),
    ("Container", "resizePolicy", f("ContainerResizePolicy")),
    ("Container", "args", f("")),
    ("Container", "command", f("")),
    ("Container", "resources", f("ResourceRequirements")),
    ("Container", "livenessProbe", f("Probe")),
    ("Container", "readinessProbe", f("Probe")),
    ("Container", "startupProbe", f("Probe")),
    ("Container", "lifecycle", f("Lifecycle")),
    ("Container", "securityContext", f("SecurityContext")),
    ("EnvVar", "valueFrom", f("EnvVarSource")),
    ("ResourceRequirements", "limits", f("")),
    ("ResourceRequirements", "requests", f("")),
    (
        "ResourceRequirements",
        "claims",
        map_only("ResourceClaim", NAME),
    ),
    ("Probe", "exec", f("ExecAction")),
    ("Probe", "httpGet", f("HTTPGetAction")),
    ("Probe", "tcpSocket", f("TCPSocketAction")),
    ("Probe", "grpc", f("GRPCAction")),
    ("HTTPGetAction", "httpHeaders", f("HTTPHeader")),
    ("Volume", "configMap", f("ConfigMapVolumeSource")),
    ("Volume", "secret", f("SecretVolumeSource")),
    ("Volume", "emptyDir", f("EmptyDirVolumeSource")),
    ("Volume", "hostPath", f("HostPathVolumeSource")),
    ("Volume", "projected", f("ProjectedVolumeSource")),
    (
        "Volume",
        "persistentVolumeClaim",
        f("PersistentVolumeClaimVolumeSource"),
    ),
    ("Volume", "downwardAPI", f("DownwardAPIVolumeSource")),
    ("ConfigMapVolumeSource", "items", f("KeyToPath")),
    ("SecretVolumeSource", "items", f("KeyToPath")),
    ("ProjectedVolumeSource", "sources", f("VolumeProjection")),
    ("PodDNSConfig", "nameservers", f("")),
    ("PodDNSConfig", "searches", f("")),
    ("PodDNSConfig", "options", f("PodDNSConfigOption")),
    ("HostAlias", "hostnames", f("")),
    (
        "TopologySpreadConstraint",
        "labelSelector",
        f("LabelSelector"),
    ),
    ("TopologySpreadConstraint", "matchLabelKeys", f("")),
    ("Affinity", "nodeAffinity", f("NodeAffinity")),
    ("Affinity", "podAffinity", f("PodAffinity")),
    ("Affinity", "podAntiAffinity", f("PodAffinity")),
    (
        "PodStatus",
        "conditions",
        keyed("PodCondition", "type", TYPE),
    ),
    ("PodStatus", "podIPs", keyed("PodIP", "ip", IP)),
    ("PodStatus", "hostIPs", keyed("HostIP", "ip", IP)),
    ("PodStatus", "containerStatuses", f("ContainerStatus")),
    ("PodStatus", "initContainerStatuses", f("ContainerStatus")),
    (
        "PodStatus",
        "ephemeralContainerStatuses",
        f("ContainerStatus"),
    ),
    // core/v1 Service.
    ("Service", "metadata", f("ObjectMeta")),
    ("Service", "spec", f("ServiceSpec")),
    ("Service", "status", f("ServiceStatus")),
    (
        "ServiceSpec",
        "ports",
        keyed("ServicePort", "port", &["port", "protocol"]),
    ),
    ("ServiceSpec", "selector", f("")),
    ("ServiceSpec", "clusterIPs", f("")),
    ("ServiceSpec", "externalIPs", f("")),
    ("ServiceSpec", "ipFamilies", f("")),
    ("ServiceSpec", "loadBalancerSourceRanges", f("")),
    (
        "ServiceSpec",
        "sessionAffinityConfig",
        f("SessionAffinityConfig"),
    ),
    (
        "ServiceStatus",
        "conditions",
        keyed("Condition", "type", TYPE),
    ),
    ("ServiceStatus", "loadBalancer", f("LoadBalancerStatus")),
    ("LoadBalancerStatus", "ingress", f("LoadBalancerIngress")),
    // core/v1 Endpoints, ConfigMap, Secret, ServiceAccount, Event, Namespace, Node.
    ("Endpoints", "metadata", f("ObjectMeta")),
    ("Endpoints", "subsets", f("EndpointSubset")),
    ("EndpointSubset", "addresses", f("EndpointAddress")),
    ("EndpointSubset", "notReadyAddresses", f("EndpointAddress")),
    ("EndpointSubset", "ports", f("EndpointPort")),
    ("ConfigMap", "metadata", f("ObjectMeta")),
    ("ConfigMap", "data", f("")),
    ("ConfigMap", "binaryData", f("")),
    ("Secret", "metadata", f("ObjectMeta")),
    ("Secret", "data", f("")),
    ("Secret", "stringData", f("")),
    ("ServiceAccount", "metadata", f("ObjectMeta")),
    (
        "ServiceAccount",
        "secrets",
        keyed("ObjectReference", "name", NAME),
    ),
    (
        "ServiceAccount",
        "imagePullSecrets",
        f("LocalObjectReference"),
    ),
    ("Event", "metadata", f("ObjectMeta")),
    ("Event", "involvedObject", f("ObjectReference")),
    ("Event", "source", f("EventSource")),
    ("Event", "series", f("EventSeries")),
    ("Event", "related", f("ObjectReference")),
    ("Namespace", "metadata", f("ObjectMeta")),
    ("Namespace", "spec", f("NamespaceSpec")),
    ("Namespace", "status", f("NamespaceStatus")),
    ("NamespaceSpec", "finalizers", f("")),
    (
        "NamespaceStatus",
        "conditions",
        keyed("NamespaceCondition", "type", TYPE),
    ),
    ("Node", "metadata", f("ObjectMeta")),
    ("Node", "spec", f("NodeSpec")),
    ("Node", "status", f("NodeStatus")),
    ("NodeSpec", "podCIDRs", set()),
    ("NodeSpec", "taints", f("Taint")),
    (
        "NodeStatus",
        "conditions",
        keyed("NodeCondition", "type", TYPE),
    ),
    (
        "NodeStatus",
        "addresses",
        keyed("NodeAddress", "type", TYPE),
    ),
    ("NodeStatus", "capacity", f("")),
    ("NodeStatus", "allocatable", f("")),
    ("NodeStatus", "images", f("ContainerImage")),
    // apps/v1 Deployment, ReplicaSet, DaemonSet.
    ("Deployment", "metadata", f("ObjectMeta")),
    ("Deployment", "spec", f("DeploymentSpec")),
    ("Deployment", "status", f("DeploymentStatus")),
    ("DeploymentSpec", "selector", f("LabelSelector")),
    ("DeploymentSpec", "template", f("PodTemplateSpec")),
    (
        "DeploymentSpec",
        "strategy",
        retain(f("DeploymentStrategy")),
    ),
    (
        "DeploymentStrategy",
        "rollingUpdate",
        f("RollingUpdateDeployment"),
    ),
    (
        "DeploymentStatus",
        "conditions",
        keyed("DeploymentCondition", "type", TYPE),
    ),
    ("ReplicaSet", "metadata", f("ObjectMeta")),
    ("ReplicaSet", "spec", f("ReplicaSetSpec")),
    ("ReplicaSet", "status", f("ReplicaSetStatus")),
    ("ReplicaSetSpec", "selector", f("LabelSelector")),
    ("ReplicaSetSpec", "template", f("PodTemplateSpec")),
    (
        "ReplicaSetStatus",
        "conditions",
        keyed("ReplicaSetCondition", "type", TYPE),
    ),
    ("DaemonSet", "metadata", f("ObjectMeta")),
    ("DaemonSet", "spec", f("DaemonSetSpec")),
    ("DaemonSet", "status", f("DaemonSetStatus")),
    ("DaemonSetSpec", "selector", f("LabelSelector")),
    ("DaemonSetSpec", "template", f("PodTemplateSpec")),
    (
        "DaemonSetSpec",
        "updateStrategy",
        f("DaemonSetUpdateStrategy"),
    ),
    (
        "DaemonSetStatus",
        "conditions",
        keyed("DaemonSetCondition", "type", TYPE),
    ),
    // discovery.k8s.io/v1 EndpointSlice.
    ("EndpointSlice", "metadata", f("ObjectMeta")),
    ("EndpointSlice", "endpoints", f("Endpoint")),
    ("EndpointSlice", "ports", f("EndpointPort")),
    ("Endpoint", "addresses", set()),
    ("Endpoint", "conditions", f("EndpointConditions")),
    ("Endpoint", "targetRef", f("ObjectReference")),
    ("Endpoint", "hints", f("EndpointHints")),
    // networking.k8s.io/v1 NetworkPolicy.
    ("NetworkPolicy", "metadata", f("ObjectMeta")),
    ("NetworkPolicy", "spec", f("NetworkPolicySpec")),
    ("NetworkPolicySpec", "podSelector", f("LabelSelector")),
    (
        "NetworkPolicySpec",
        "ingress",
        f("NetworkPolicyIngressRule"),
    ),
    ("NetworkPolicySpec", "egress", f("NetworkPolicyEgressRule")),
    ("NetworkPolicySpec", "policyTypes", f("")),
    ("NetworkPolicyIngressRule", "from", f("NetworkPolicyPeer")),
    ("NetworkPolicyIngressRule", "ports", f("NetworkPolicyPort")),
    ("NetworkPolicyEgressRule", "to", f("NetworkPolicyPeer")),
    ("NetworkPolicyEgressRule", "ports", f("NetworkPolicyPort")),
    ("NetworkPolicyPeer", "podSelector", f("LabelSelector")),
    ("NetworkPolicyPeer", "namespaceSelector", f("LabelSelector")),
    ("NetworkPolicyPeer", "ipBlock", f("IPBlock")),
    ("IPBlock", "except", f("")),
];

/// Types that server-side apply treats as one value (`+structType=atomic`): a manager owns the
/// whole of it, and an apply replaces it.
pub const ATOMIC_TYPES: &[&str] = &["LabelSelector"];

/// Struct fields that are values, not pointers, in the Go types: a zero object has them, so
/// an update that fills them does not own their existence (no `.` in managedFields). Every
/// other described struct, and every map, is owned as a whole by whoever added it.
pub const VALUE_STRUCTS: &[&str] = &[
    "ObjectMeta",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "ResourceRequirements",
    "ServiceSpec",
    "ServiceStatus",
    "LoadBalancerStatus",
    "NamespaceSpec",
    "NamespaceStatus",
    "NodeSpec",
    "NodeStatus",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "DaemonSetSpec",
    "DaemonSetStatus",
    "DaemonSetUpdateStrategy",
    "NetworkPolicySpec",
    "EndpointConditions",
];

/// Whether `ty` is an atomic struct.
pub fn is_atomic(ty: &str) -> bool {
    ATOMIC_TYPES.contains(&ty)
}

/// The type of a kind's objects (named after the kind; `""` for a kind the tables do not
/// describe).
pub fn root_type(kind: &str) -> &'static str {
    FIELDS
        .iter()
        .map(|(t, _, _)| *t)
        .chain(KNOWN.iter().map(|(t, _)| *t))
        .find(|t| *t == kind)
        .unwrap_or("")
}

/// What the table says about `ty.name`; the default (merge maps, replace lists) when nothing.
pub fn field(ty: &str, name: &str) -> Field {
    if ty.is_empty() {
        return f("");
    }
    FIELDS
        .iter()
        .find(|(t, n, _)| *t == ty && *n == name)
        .map(|(_, _, fl)| *fl)
        .unwrap_or(f(""))
}

/// The fields each described type has (for unknown-field detection). A type not listed here
/// takes any field; maps with free keys (labels, data) are not listed either.
pub const KNOWN: &[(&str, &str)] = &[
    ("ObjectMeta", "name generateName namespace selfLink uid resourceVersion generation creationTimestamp deletionTimestamp deletionGracePeriodSeconds labels annotations ownerReferences finalizers managedFields"),
    ("OwnerReference", "apiVersion kind name uid controller blockOwnerDeletion"),
    ("LabelSelector", "matchLabels matchExpressions"),
    ("LabelSelectorRequirement", "key operator values"),
    ("Pod", "apiVersion kind metadata spec status"),
    ("PodTemplateSpec", "metadata spec"),
    ("PodSpec", "volumes initContainers containers ephemeralContainers restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy nodeSelector serviceAccountName serviceAccount automountServiceAccountToken nodeName hostNetwork hostPID hostIPC shareProcessNamespace securityContext imagePullSecrets hostname subdomain affinity schedulerName tolerations hostAliases priorityClassName priority dnsConfig readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead topologySpreadConstraints setHostnameAsFQDN os hostUsers schedulingGates resourceClaims resources"),
    ("Container", "name image command args workingDir ports envFrom env resources resizePolicy restartPolicy volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty targetContainerName"),
    ("ContainerPort", "name hostPort containerPort protocol hostIP"),
    ("EnvVar", "name value valueFrom"),
    ("VolumeMount", "name readOnly recursiveReadOnly mountPath subPath mountPropagation subPathExpr"),
    ("Service", "apiVersion kind metadata spec status"),
    ("ServiceSpec", "ports selector clusterIP clusterIPs type externalIPs sessionAffinity loadBalancerIP loadBalancerSourceRanges externalName externalTrafficPolicy healthCheckNodePort publishNotReadyAddresses sessionAffinityConfig ipFamilies ipFamilyPolicy allocateLoadBalancerNodePorts loadBalancerClass internalTrafficPolicy trafficDistribution"),
    ("ServicePort", "name protocol appProtocol port targetPort nodePort"),
    ("Endpoints", "apiVersion kind metadata subsets"),
    ("EndpointSubset", "addresses notReadyAddresses ports"),
    ("ConfigMap", "apiVersion kind metadata immutable data binaryData"),
    ("Secret", "apiVersion kind metadata immutable data stringData type"),
    ("ServiceAccount", "apiVersion kind metadata secrets imagePullSecrets automountServiceAccountToken"),
    ("Namespace", "apiVersion kind metadata spec status"),
    ("Deployment", "apiVersion kind metadata spec status"),
    ("DeploymentSpec", "replicas selector template strategy minReadySeconds revisionHistoryLimit paused progressDeadlineSeconds"),
    ("DeploymentStrategy", "type rollingUpdate"),
    ("RollingUpdateDeployment", "maxUnavailable maxSurge"),
    ("ReplicaSet", "apiVersion kind metadata spec status"),
    ("ReplicaSetSpec", "replicas minReadySeconds selector template"),
    ("DaemonSet", "apiVersion kind metadata spec status"),
    ("DaemonSetSpec", "selector template updateStrategy minReadySeconds revisionHistoryLimit"),
    ("EndpointSlice", "apiVersion kind metadata addressType endpoints ports"),
    ("NetworkPolicy", "apiVersion kind metadata spec"),
    ("NetworkPolicySpec", "podSelector ingress egress policyTypes"),
    ("NetworkPolicyIngressRule", "ports from"),
    ("NetworkPolicyEgressRule", "ports to"),
    ("NetworkPolicyPeer", "podSelector namespaceSelector ipBlock"),
    ("NetworkPolicyPort", "protocol port endPort"),
];

/// Whether `name` is a field of `ty`: `Some(true|false)` for a described type, `None` when the
/// type takes any key (a map) or is not described.
pub fn has_field(ty: &str, name: &str) -> Option<bool> {
    let (_, names) = KNOWN.iter().find(|(t, _)| *t == ty)?;
    Some(names.split(' ').any(|n| n == name))
}

/// Whether the field at `path` (keys from the object's root; list items are skipped by the
/// caller) exists in `kind`'s schema: `Some(false)` for an unknown field, `None` when the
/// schema does not say (a free-form map, or a type the table does not describe).
pub fn known_field(kind: &str, path: &[&str]) -> Option<bool> {
    let mut ty = root_type(kind);
    for (i, name) in path.iter().enumerate() {
        let known = has_field(ty, name)?;
        if !known {
            return Some(false);
        }
        if i + 1 < path.len() {
            ty = field(ty, name).ty;
            if ty.is_empty() {
                return None;
            }
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_of_the_lists_kubectl_patches() {
        assert_eq!(field("PodSpec", "containers").merge_key, "name");
        assert!(field("PodSpec", "containers").merge);
        assert_eq!(field("Container", "ports").merge_key, "containerPort");
        assert_eq!(
            field("Container", "ports").list,
            ListType::Map(&["containerPort", "protocol"])
        );
        assert_eq!(field("ServiceSpec", "ports").merge_key, "port");
        assert_eq!(field("Container", "volumeMounts").merge_key, "mountPath");
        assert_eq!(field("ObjectMeta", "ownerReferences").merge_key, "uid");
        assert_eq!(field("ObjectMeta", "finalizers").list, ListType::Set);
        assert!(field("PodSpec", "volumes").retain_keys);
        assert!(field("DeploymentSpec", "strategy").retain_keys);
        // Not described: replaced.
        assert!(!field("PodSpec", "tolerations").merge);
        assert!(!field("Container", "args").merge);
        assert_eq!(field("Nope", "x"), f(""));
    }

    #[test]
    fn every_row_is_unique_and_every_key_is_a_known_field_of_its_item() {
        for (i, (t, n, fl)) in FIELDS.iter().enumerate() {
            assert!(
                !FIELDS[..i].iter().any(|(t2, n2, _)| t2 == t && n2 == n),
                "{t}.{n} twice"
            );
            if let Some(k) = has_field(t, n) {
                assert!(k, "{t}.{n} is in FIELDS but not in KNOWN");
            }
            if let ListType::Map(keys) = fl.list {
                for k in keys {
                    assert_ne!(has_field(fl.ty, k), Some(false), "{t}.{n} key {k}");
                }
            }
        }
    }

    #[test]
    fn known_field_walks_the_types() {
        assert_eq!(known_field("Service", &["spec", "ports"]), Some(true));
        assert_eq!(known_field("Service", &["spec", "foo"]), Some(false));
        assert_eq!(known_field("Service", &["spex"]), Some(false));
        assert_eq!(known_field("Service", &["metadata", "labels", "x"]), None);
        assert_eq!(
            known_field(
                "Deployment",
                &["spec", "template", "spec", "containers", "imagex"]
            ),
            Some(false)
        );
        assert_eq!(
            known_field(
                "Deployment",
                &["spec", "template", "spec", "containers", "image"]
            ),
            Some(true)
        );
        assert_eq!(known_field("Widget", &["spec"]), None);
    }
}
