//! What a command acts on: resource types as typed (`po`, `deploy/web`), `TYPE NAME…` and
//! `TYPE/NAME` words, `-f` manifests with their namespaces, and `-l` selections.

use super::args::Args;
use super::ctx::Ctx;
use super::ctx::Fail;
use super::format::sort_items;
use super::manifest;
use super::manifest::Doc;
use crate::kube::client::KubeObject;
use crate::kube::client::Resource;

/// A checked manifest document: the object, its resource and its target namespace.
pub(crate) type Loaded = (Doc, &'static Resource, Option<String>);

/// Resolves a resource type as typed by the user.
pub fn resolve_type(t: &str) -> Result<&'static Resource, Fail> {
    Resource::resolve(t)
        .ok_or_else(|| Fail::Msg(format!("the server doesn't have a resource type \"{t}\"")))
}

/// `TYPE NAME...`, `TYPE/NAME...`, `TYPE1,TYPE2`, `all`: the resources and names requested.
pub(crate) struct Targets {
    pub(crate) groups: Vec<(&'static Resource, Vec<String>)>,
    /// One object named explicitly (`-o yaml` prints it bare rather than as a List).
    pub(crate) single: bool,
    /// Several types (names get a `kind/` prefix in tables).
    pub(crate) multi_type: bool,
}

pub(crate) fn targets(cmd: &str, words: &[String]) -> Result<Targets, Fail> {
    if words.is_empty() {
        return Err(Fail::Raw(format!(
            "You must specify the type of resource to {cmd}. Use \"kubectl api-resources\" for a complete list of supported resources.\n\nerror: Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl {cmd} -h' for help and examples"
        )));
    }
    let mut groups: Vec<(&'static Resource, Vec<String>)> = Vec::new();
    if words[0].contains('/') {
        for w in words {
            let Some((t, n)) = w.split_once('/') else {
                return Err(Fail::Msg(format!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl {cmd} resource/<resource_name>' instead of 'kubectl {cmd} resource resource/<resource_name>'"
                )));
            };
            let r = resolve_type(t)?;
            match groups.iter_mut().find(|g| std::ptr::eq(g.0, r)) {
                Some(g) => g.1.push(n.to_string()),
                None => groups.push((r, vec![n.to_string()])),
            }
        }
        let single = words.len() == 1;
        let multi = groups.len() > 1;
        return Ok(Targets {
            groups,
            single,
            multi_type: multi,
        });
    }
    let names: Vec<String> = words[1..].to_vec();
    if let Some(w) = names.iter().find(|n| n.contains('/')) {
        return Err(Fail::Msg(format!(
            "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl {cmd} resource/<resource_name>' instead of 'kubectl {cmd} resource {w}'"
        )));
    }
    let mut multi = false;
    for t in words[0].split(',').filter(|t| !t.is_empty()) {
        if t == "all" {
            multi = true;
            for r in [
                Resource::resolve("pods"),
                Resource::resolve("services"),
                Resource::resolve("deployments"),
            ]
            .into_iter()
            .flatten()
            {
                groups.push((r, names.clone()));
            }
        } else {
            groups.push((resolve_type(t)?, names.clone()));
        }
    }
    multi = multi || groups.len() > 1;
    Ok(Targets {
        single: names.len() == 1 && groups.len() == 1,
        groups,
        multi_type: multi,
    })
}

/// Target namespace of a manifest document; errors when it contradicts an explicit `-n`.
pub(crate) fn doc_namespace(ctx: &Ctx, r: &Resource, doc: &Doc) -> Result<Option<String>, Fail> {
    if !r.namespaced {
        return Ok(None);
    }
    match doc.object.namespace() {
        Some(ns) if !ns.is_empty() => {
            if ctx.namespace_explicit && ns != ctx.namespace {
                return Err(Fail::Msg(format!(
                    "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
                    ctx.namespace
                )));
            }
            Ok(Some(ns.to_string()))
        }
        _ => Ok(Some(ctx.namespace.clone())),
    }
}

/// Reads and checks every document of `-f`; any problem aborts before anything is written.
pub(crate) fn load_docs(ctx: &mut Ctx, a: &Args, cmd: &str) -> Result<Vec<Loaded>, Fail> {
    let files = a.all("filename");
    if files.is_empty() {
        return Err(Fail::Raw(format!(
            "error: must specify one of -f and -k\n\nSee 'kubectl {cmd} -h' for help and examples"
        )));
    }
    let docs = manifest::read_all(&files, ctx.stdin).map_err(Fail::Msg)?;
    if docs.is_empty() {
        return Err(Fail::Msg(format!("no objects passed to {cmd}")));
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for d in docs {
        let checked = manifest::resolve(&d).and_then(|r| {
            if cmd != "delete" {
                manifest::validate(&d)?;
            }
            Ok(r)
        });
        match checked {
            Ok(r) => match doc_namespace(ctx, r, &d) {
                Ok(ns) => out.push((d, r, ns)),
                Err(Fail::Msg(m)) => problems.push(format!("error: {m}")),
                Err(_) => {}
            },
            Err(m) if m.starts_with("The ") => problems.push(m),
            Err(m) => problems.push(format!("error: {m}")),
        }
    }
    if !problems.is_empty() {
        return Err(Fail::Raw(problems.join("\n")));
    }
    Ok(out)
}

/// One object a command acts on: its resource, namespace and name.
pub(crate) type Named = (&'static Resource, Option<String>, String);

/// The objects `TYPE NAME...` names, or for a type without names the ones `-l`,
/// `--field-selector` or `--all` select (sorted by namespace and name), in the namespace of
/// `-n`, or every namespace with `-A`.
pub(crate) fn named_objects(
    ctx: &Ctx,
    a: &Args,
    groups: &[(&'static Resource, Vec<String>)],
) -> Result<Vec<Named>, Fail> {
    let all_ns = a.bool("all-namespaces");
    let mut objects = Vec::new();
    for (r, names) in groups {
        let ns = ns_for(ctx, r, all_ns).map(String::from);
        if !names.is_empty() {
            objects.extend(names.iter().map(|n| (*r, ns.clone(), n.clone())));
            continue;
        }
        if !a.bool("all") && !a.has("selector") && !a.has("field-selector") {
            return Err(Fail::Msg(
                "resource(s) were provided, but no name was specified".into(),
            ));
        }
        let mut items = ctx
            .client
            .list(r, ns.as_deref(), a.get("selector"), a.get("field-selector"))?
            .items;
        sort_items(&mut items);
        objects.extend(
            items
                .iter()
                .map(|o| (*r, o.namespace().map(String::from), o.name().to_string())),
        );
    }
    Ok(objects)
}

/// `TYPE NAME` or `TYPE/NAME` as the first arguments of scale/label/patch/expose.
pub(crate) fn one_target(
    cmd: &str,
    words: &[String],
) -> Result<(&'static Resource, String, usize), Fail> {
    let Some(first) = words.first() else {
        return Err(Fail::Raw(format!(
            "error: You must provide one or more resources by argument or filename.\nSee 'kubectl {cmd} -h' for help and examples"
        )));
    };
    if let Some((t, n)) = first.split_once('/') {
        return Ok((resolve_type(t)?, n.to_string(), 1));
    }
    let r = resolve_type(first)?;
    let Some(name) = words.get(1) else {
        return Err(Fail::Msg(
            "resource(s) were provided, but no name was specified".into(),
        ));
    };
    Ok((r, name.clone(), 2))
}

pub(crate) fn ns_for<'a>(ctx: &'a Ctx, r: &Resource, all: bool) -> Option<&'a str> {
    if !r.namespaced || all {
        None
    } else {
        Some(ctx.namespace.as_str())
    }
}
