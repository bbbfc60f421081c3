//! What the API server knows of a kind's fields when it merges: the patch strategy and merge key
//! of every list that strategic merge patch treats specially (the Go types' `patchStrategy` /
//! `patchMergeKey` tags), the list types server-side apply uses (`+listType`, `+listMapKey`),
//! and which fields exist at all (for `fieldValidation`).
//!
//! All of it comes from `kubeschema` (generated from the upstream types); a type is named by
//! its proto message (`k8s.io.api.core.v1.PodSpec`). Two facts the generated schema does not
//! carry stay here by hand, by Go type name: the `+structType=atomic` structs and the structs
//! held by value (not pointer). A field the schema does not describe merges with the
//! defaults: maps key by key, lists replaced (atomic).

use kubeschema::{Label, Ty};

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

/// A field the schema does not describe: a scalar, or a free-form map.
const fn plain() -> Field {
    Field {
        ty: "",
        merge: false,
        replace: false,
        retain_keys: false,
        merge_key: "",
        list: ListType::Atomic,
    }
}

/// The described message with this name (not one of the types with their own JSON form, such
/// as Time or IntOrString, which are scalars here).
fn described(ty: &str) -> Option<&'static kubeschema::Message> {
    if ty.is_empty() {
        return None;
    }
    kubeschema::message(ty).filter(|m| !kubeschema::is_opaque(m.name))
}

/// The Go name of a type (`PodSpec`), for the hand lists above.
fn go_name(ty: &str) -> &str {
    ty.rsplit('.').next().unwrap_or(ty)
}

/// Whether `ty` is an atomic struct.
pub fn is_atomic(ty: &str) -> bool {
    !ty.is_empty() && ATOMIC_TYPES.contains(&go_name(ty))
}

/// Whether `ty` is held by value in its parent's Go struct.
pub fn is_value_struct(ty: &str) -> bool {
    !ty.is_empty() && VALUE_STRUCTS.contains(&go_name(ty))
}

/// The type of a kind's objects (`""` for a kind the schema does not describe). A kind name
/// served in two groups resolves to the core group's.
pub fn root_type(kind: &str) -> &'static str {
    let kinds = kubeschema::kinds();
    kinds
        .iter()
        .filter(|k| k.kind == kind && !k.plural.is_empty())
        .min_by_key(|k| !k.group.is_empty())
        .map(|k| k.message)
        .unwrap_or("")
}

/// What the schema says about `ty.name`; the default (merge maps, replace lists) when nothing.
pub fn field(ty: &str, name: &str) -> Field {
    let Some(f) = described(ty).and_then(|m| m.field(name)) else {
        return plain();
    };
    let child = match f.ty {
        Ty::Message(m) if described(m).is_some() => m,
        _ => "",
    };
    let strategy = f.patch_strategy.unwrap_or("");
    let has = |s: &str| strategy.split(',').any(|x| x == s);
    Field {
        ty: child,
        merge: has("merge") && f.label == Label::Repeated,
        replace: has("replace"),
        retain_keys: has("retainKeys"),
        merge_key: f.patch_merge_key.unwrap_or(""),
        list: match (f.label, f.list_type) {
            (Label::Repeated, Some("set")) => ListType::Set,
            (Label::Repeated, Some("map")) => ListType::Map(f.list_map_keys),
            _ => ListType::Atomic,
        },
    }
}

/// Whether `name` is a field of `ty`: `Some(true|false)` for a described type, `None` when the
/// type takes any key (a map) or is not described. `apiVersion` and `kind` belong to a kind's
/// object; keys starting with `$` are strategic merge patch directives, not fields.
pub fn has_field(ty: &str, name: &str) -> Option<bool> {
    let m = described(ty)?;
    if name.starts_with('$') {
        return None;
    }
    if matches!(name, "apiVersion" | "kind")
        && kubeschema::kinds().iter().any(|k| k.message == m.name)
    {
        return Some(true);
    }
    Some(m.field(name).is_some())
}

/// Whether the field at `path` (keys from the object's root; list items are skipped by the
/// caller) exists in `kind`'s schema: `Some(false)` for an unknown field, `None` when the
/// schema does not say (a free-form map, or a type the schema does not describe).
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

    const POD_SPEC: &str = "k8s.io.api.core.v1.PodSpec";
    const CONTAINER: &str = "k8s.io.api.core.v1.Container";

    #[test]
    fn merge_keys_of_the_lists_kubectl_patches() {
        assert_eq!(field(POD_SPEC, "containers").merge_key, "name");
        assert!(field(POD_SPEC, "containers").merge);
        assert_eq!(field(POD_SPEC, "containers").ty, CONTAINER);
        assert_eq!(field(CONTAINER, "ports").merge_key, "containerPort");
        assert_eq!(
            field(CONTAINER, "ports").list,
            ListType::Map(&["containerPort", "protocol"])
        );
        assert_eq!(
            field("k8s.io.api.core.v1.ServiceSpec", "ports").merge_key,
            "port"
        );
        assert_eq!(field(CONTAINER, "volumeMounts").merge_key, "mountPath");
        let meta = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        assert_eq!(field(meta, "ownerReferences").merge_key, "uid");
        assert_eq!(field(meta, "finalizers").list, ListType::Set);
        assert!(field(POD_SPEC, "volumes").retain_keys);
        assert!(field("k8s.io.api.apps.v1.DeploymentSpec", "strategy").retain_keys);
        // Not merged upstream: replaced.
        assert!(!field(POD_SPEC, "tolerations").merge);
        assert!(!field(CONTAINER, "args").merge);
        // IntOrString is a scalar here; unknown types and fields take the defaults.
        assert_eq!(field("k8s.io.api.core.v1.ServicePort", "targetPort").ty, "");
        assert_eq!(field("Nope", "x"), plain());
    }

    #[test]
    fn the_hand_lists_name_types_the_schema_has() {
        for name in ATOMIC_TYPES.iter().chain(VALUE_STRUCTS) {
            assert!(
                kubeschema::messages()
                    .iter()
                    .any(|m| go_name(m.name) == *name),
                "{name} is not a type of the schema"
            );
        }
        assert!(is_atomic(
            "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector"
        ));
        assert!(is_value_struct(POD_SPEC));
        assert!(!is_value_struct(""));
    }

    #[test]
    fn known_field_walks_the_types() {
        assert_eq!(root_type("Service"), "k8s.io.api.core.v1.Service");
        assert_eq!(root_type("Event"), "k8s.io.api.core.v1.Event");
        assert_eq!(known_field("Service", &["apiVersion"]), Some(true));
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
        // Through an embedded struct: Probe's ProbeHandler.
        assert_eq!(
            known_field(
                "Pod",
                &["spec", "containers", "readinessProbe", "httpGet", "port"]
            ),
            Some(true)
        );
        assert_eq!(known_field("Widget", &["spec"]), None);
    }
}
