//! Request paths: `/api/v1/namespaces/NS/pods/NAME/status` into what they name.

use serde_json::Value;

use super::errors::unknown_path;
use super::errors::ApiResult;
use crate::kube::client::Resource;
use crate::kube::client::RESOURCES;

/// What a request path designates.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource.
    pub res: &'static Resource,
    /// The namespace in the path (namespaced resources), `None` for all namespaces.
    pub namespace: Option<String>,
    /// The object name, `None` for the collection.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, `binding`).
    pub sub: Option<String>,
}

pub(crate) enum Parsed {
    Target(Target),
    Discovery(Value),
}

pub(crate) fn find_resource(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub(crate) fn parse_path(path: &str) -> ApiResult<Parsed> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => {
            return Ok(Parsed::Discovery(
                crate::apiserver::discovery::api_versions(),
            ))
        }
        ["apis"] => return Ok(Parsed::Discovery(crate::apiserver::discovery::api_groups())),
        ["api", ver, rest @ ..] => ("", *ver, rest),
        ["apis", group] => {
            return crate::apiserver::discovery::api_group(group)
                .map(Parsed::Discovery)
                .ok_or_else(unknown_path)
        }
        ["apis", group, ver, rest @ ..] => (*group, *ver, rest),
        _ => return Err(unknown_path()),
    };
    let target = |plural: &str, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        let res = find_resource(group, version, plural).ok_or_else(unknown_path)?;
        if ns.is_some() && !res.namespaced {
            return Err(unknown_path());
        }
        if ns.is_none() && name.is_some() && res.namespaced {
            return Err(unknown_path());
        }
        Ok(Parsed::Target(Target {
            res,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        }))
    };
    match rest {
        [] => crate::apiserver::discovery::resource_list(group, version)
            .map(Parsed::Discovery)
            .ok_or_else(unknown_path),
        ["namespaces", ns, plural]
            if group.is_empty() && (*plural == "status" || *plural == "finalize") =>
        {
            target("namespaces", None, Some(ns), Some(plural))
        }
        ["namespaces", ns, plural] => target(plural, Some(ns), None, None),
        ["namespaces", ns, plural, name] => target(plural, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => target(plural, Some(ns), Some(name), Some(sub)),
        [plural] => target(plural, None, None, None),
        [plural, name] => target(plural, None, Some(name), None),
        [plural, name, sub] => target(plural, None, Some(name), Some(sub)),
        _ => Err(unknown_path()),
    }
}
