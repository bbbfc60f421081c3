//! The kinds of object the lab API serves ([`Resource`]: kind, plural, group, namespaced, the
//! names kubectl accepts), with everything needed to build their REST paths, and their table
//! [`RESOURCES`]. Resolved from user input the way kubectl does with [`Resource::resolve`]
//! (`po`, `pod`, `pods`, `Pod`, `deployments.apps`, …).

/// One kind of object the lab API serves, with everything needed to build its REST paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// `Pod`.
    pub kind: &'static str,
    /// `pods` (the path segment).
    pub plural: &'static str,
    /// `pod`.
    pub singular: &'static str,
    /// Short names kubectl accepts (`po`).
    pub short_names: &'static [&'static str],
    /// API group, empty for the core group.
    pub group: &'static str,
    /// API version within the group (`v1`).
    pub version: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

/// `v1 Namespace`.
pub const NAMESPACES: Resource = Resource {
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    short_names: &["ns"],
    group: "",
    version: "v1",
    namespaced: false,
};
/// `v1 Node`.
pub const NODES: Resource = Resource {
    kind: "Node",
    plural: "nodes",
    singular: "node",
    short_names: &["no"],
    group: "",
    version: "v1",
    namespaced: false,
};
/// `v1 Pod`.
pub const PODS: Resource = Resource {
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    short_names: &["po"],
    group: "",
    version: "v1",
    namespaced: true,
};
/// `v1 Service`.
pub const SERVICES: Resource = Resource {
    kind: "Service",
    plural: "services",
    singular: "service",
    short_names: &["svc"],
    group: "",
    version: "v1",
    namespaced: true,
};
/// `v1 Endpoints`.
pub const ENDPOINTS: Resource = Resource {
    kind: "Endpoints",
    plural: "endpoints",
    singular: "endpoints",
    short_names: &["ep"],
    group: "",
    version: "v1",
    namespaced: true,
};
/// `apps/v1 Deployment`.
pub const DEPLOYMENTS: Resource = Resource {
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    short_names: &["deploy"],
    group: "apps",
    version: "v1",
    namespaced: true,
};
/// `discovery.k8s.io/v1 EndpointSlice`.
pub const ENDPOINT_SLICES: Resource = Resource {
    kind: "EndpointSlice",
    plural: "endpointslices",
    singular: "endpointslice",
    short_names: &[],
    group: "discovery.k8s.io",
    version: "v1",
    namespaced: true,
};
/// `networking.k8s.io/v1 NetworkPolicy`.
pub const NETWORK_POLICIES: Resource = Resource {
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    singular: "networkpolicy",
    short_names: &["netpol"],
    group: "networking.k8s.io",
    version: "v1",
    namespaced: true,
};

/// `v1 ConfigMap`.
pub const CONFIG_MAPS: Resource = Resource {
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    short_names: &["cm"],
    group: "",
    version: "v1",
    namespaced: true,
};
/// `v1 Secret`.
pub const SECRETS: Resource = Resource {
    kind: "Secret",
    plural: "secrets",
    singular: "secret",
    short_names: &[],
    group: "",
    version: "v1",
    namespaced: true,
};
/// `v1 ServiceAccount`.
pub const SERVICE_ACCOUNTS: Resource = Resource {
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    short_names: &["sa"],
    group: "",
    version: "v1",
    namespaced: true,
};
/// `v1 Event` (the core kind kubectl lists and describes).
pub const EVENTS: Resource = Resource {
    kind: "Event",
    plural: "events",
    singular: "event",
    short_names: &["ev"],
    group: "",
    version: "v1",
    namespaced: true,
};
/// `coordination.k8s.io/v1 Lease`.
pub const LEASES: Resource = Resource {
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    short_names: &[],
    group: "coordination.k8s.io",
    version: "v1",
    namespaced: true,
};
/// `apps/v1 ReplicaSet`.
pub const REPLICA_SETS: Resource = Resource {
    kind: "ReplicaSet",
    plural: "replicasets",
    singular: "replicaset",
    short_names: &["rs"],
    group: "apps",
    version: "v1",
    namespaced: true,
};
/// `apps/v1 DaemonSet`.
pub const DAEMON_SETS: Resource = Resource {
    kind: "DaemonSet",
    plural: "daemonsets",
    singular: "daemonset",
    short_names: &["ds"],
    group: "apps",
    version: "v1",
    namespaced: true,
};

/// Every resource the lab API serves, in the order `kubectl api-resources` would list them.
pub const RESOURCES: &[Resource] = &[
    CONFIG_MAPS,
    ENDPOINTS,
    EVENTS,
    NAMESPACES,
    NODES,
    PODS,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
    DAEMON_SETS,
    DEPLOYMENTS,
    REPLICA_SETS,
    LEASES,
    ENDPOINT_SLICES,
    NETWORK_POLICIES,
];

impl Resource {
    /// Resolves a resource name as kubectl does: plural, singular, short name or kind,
    /// case-insensitively, optionally qualified by its group (`deployments.apps`,
    /// `deploy.apps`, `endpointslices.discovery.k8s.io`).
    pub fn resolve(name: &str) -> Option<&'static Resource> {
        let lower = name.to_ascii_lowercase();
        let (base, group) = match lower.split_once('.') {
            Some((b, g)) => (b.to_string(), Some(g.to_string())),
            None => (lower.clone(), None),
        };
        RESOURCES.iter().find(|r| {
            let name_matches = r.plural == base
                || r.singular == base
                || r.kind.eq_ignore_ascii_case(&base)
                || r.short_names.contains(&base.as_str());
            let group_matches = match &group {
                None => true,
                Some(g) => {
                    r.group == g
                        || (!r.group.is_empty() && r.group.starts_with(g.as_str()))
                        || (r.group.is_empty() && g == "v1")
                }
            };
            name_matches && group_matches
        })
    }

    /// The resource whose objects have `kind` (exact, as in an object's `kind` field).
    pub fn by_kind(kind: &str) -> Option<&'static Resource> {
        RESOURCES.iter().find(|r| r.kind == kind)
    }

    /// `v1` for the core group, `apps/v1` otherwise: the objects' `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1` or `/apis/<group>/<version>`.
    pub fn group_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection path: `/api/v1/namespaces/{ns}/pods`, or all namespaces when `namespace`
    /// is `None` (`/api/v1/pods`); cluster-scoped resources ignore `namespace`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => {
                format!("{}/namespaces/{}/{}", self.group_path(), ns, self.plural)
            }
            _ => format!("{}/{}", self.group_path(), self.plural),
        }
    }

    /// The path of one object. Namespaced resources need a namespace: `None` means `default`.
    pub fn item_path(&self, namespace: Option<&str>, name: &str) -> String {
        let ns = if self.namespaced {
            Some(namespace.unwrap_or("default"))
        } else {
            None
        };
        format!("{}/{}", self.collection_path(ns), name)
    }

    /// `pods.v1`-style name used in messages: `deployments.apps`, `pods`.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}
