//! What discovery says about each kind beyond its names: the categories (`kubectl get all`),
//! as kube-apiserver declares them. Kept apart from the [`Resource`] table so that adding a
//! kind there needs no change here (a kind without categories has none).

use super::resource::Resource;

impl Resource {
    /// The categories the kind belongs to: `all` for the workload kinds and Services, as
    /// upstream (Endpoints, ConfigMaps, Secrets… are not in `all`).
    pub fn categories(&self) -> &'static [&'static str] {
        match (self.group, self.kind) {
            ("", "Pod" | "Service" | "ReplicationController")
            | ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet")
            | ("batch", "Job" | "CronJob")
            | ("autoscaling", "HorizontalPodAutoscaler") => &["all"],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::kube::resource::{Resource, DEPLOYMENTS, ENDPOINTS, PODS, SERVICES};

    #[test]
    fn all_holds_what_upstream_puts_in_it() {
        assert_eq!(PODS.categories(), ["all"]);
        assert_eq!(SERVICES.categories(), ["all"]);
        assert_eq!(DEPLOYMENTS.categories(), ["all"]);
        assert!(ENDPOINTS.categories().is_empty());
        let rs = Resource {
            kind: "ReplicaSet",
            plural: "replicasets",
            singular: "replicaset",
            short_names: &["rs"],
            group: "apps",
            version: "v1",
            namespaced: true,
        };
        assert_eq!(rs.categories(), ["all"]);
    }
}
