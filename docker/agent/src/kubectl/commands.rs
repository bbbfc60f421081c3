//! The kubectl commands: get, describe, apply, create, delete, scale, label, patch, expose,
//! run, version, cluster-info, api-resources, config (exec and logs live in `exec.rs`).

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::args::Args;
use super::manifest::{self, Doc};
use super::printers::{self, kind_prefix, TableOptions};
use super::wait::WaitFor;
use super::{describe, jsonpath, output, tabwriter, Ctx, Fail};
use crate::kube::client::{ClientError, KubeObject, Resource, RESOURCES};

type R = Result<(), Fail>;

/// A checked manifest document: the object, its resource and its target namespace.
type Loaded = (Doc, &'static Resource, Option<String>);

const HELP: &str = "kubectl controls the Kubernetes cluster manager (kplab: the lab's API server).

Basic Commands (Beginner):
  create          Create a resource from a file or from stdin
  expose          Take a deployment, pod or service and expose it as a new Kubernetes service
  run             Run a particular image on the cluster

Basic Commands (Intermediate):
  get             Display one or many resources
  delete          Delete resources by file names, stdin, resources and names, or by label selector

Deploy Commands:
  scale           Set a new size for a deployment
  rollout         Wait for a deployment's rollout (rollout status)

Cluster Management Commands:
  cluster-info    Display cluster information

Troubleshooting and Debugging Commands:
  describe        Show details of a specific resource or group of resources
  logs            Print the logs for a container in a pod
  exec            Execute a command in a container

Advanced Commands:
  apply           Apply a configuration to a resource by file name or stdin
  patch           Update fields of a resource (strategic merge patches are applied as JSON merge patches here)
  edit            Edit a resource on the server with $KUBE_EDITOR or $EDITOR (default vi)
  wait            Experimental: Wait for a specific condition on one or many resources

Settings Commands:
  label           Update the labels on a resource

Other Commands:
  api-resources   Print the supported API resources on the server
  config          Modify kubeconfig files (view, current-context, set-context --current --namespace)
  version         Print the client and server version information

Usage:
  kubectl [flags] [options]

Use \"kubectl <command> --help\" for more information about a given command.";

fn help_for(cmd: &str) -> &'static str {
    match cmd {
        "get" => "Display one or many resources.\n\n Prints a table of the most important information about the specified resources. You can filter\nthe list using a label selector and the --selector flag.\n\nExamples:\n  kubectl get pods -o wide\n  kubectl get svc,ep -n kube-system\n  kubectl get pod web-xxx -o yaml\n  kubectl get pods -o jsonpath='{range .items[*]}{.metadata.name}{\"\\t\"}{.status.podIP}{\"\\n\"}{end}'\n  kubectl get all -A\n\nOptions:\n  -A, --all-namespaces  -l, --selector  --field-selector  -o, --output=wide|yaml|json|name|jsonpath=...|custom-columns=HEADER:PATH,...\n  --show-labels  --no-headers\n\nUsage:\n  kubectl get [(-o|--output=)json|yaml|name|wide|jsonpath=...] (TYPE[.VERSION][.GROUP] [NAME | -l label] | TYPE[.VERSION][.GROUP]/NAME ...) [flags] [options]",
        "describe" => "Show details of a specific resource or group of resources.\n\nExamples:\n  kubectl describe svc web\n  kubectl describe pods -l app=web\n  kubectl describe netpol deny-all\n\nUsage:\n  kubectl describe (-f FILENAME | TYPE [NAME_PREFIX | -l label] | TYPE/NAME) [options]",
        "apply" => "Apply a configuration to a resource by file name or stdin. The resource name must be specified.\nThis resource will be created if it doesn't exist yet. Every document is parsed and validated\nbefore any is sent: an invalid document changes nothing.\n\nExamples:\n  kubectl apply -f web.yaml\n  cat web.yaml | kubectl apply -f -\n\nUsage:\n  kubectl apply (-f FILENAME) [options]",
        "create" => "Create a resource from a file or from stdin.\n\nAvailable Commands:\n  deployment  Create a deployment with the specified name (--image, --replicas, --port)\n  namespace   Create a namespace with the specified name\n\nExamples:\n  kubectl create -f web.yaml\n  kubectl create deployment web --image=nginx --replicas=3 --port=80\n  kubectl create deployment web --image=nginx --dry-run=client -o yaml\n\nUsage:\n  kubectl create -f FILENAME [options]",
        "expose" => "Expose a resource as a new Kubernetes service (deployment, pod or service), using the\nselector of that resource.\n\nExamples:\n  kubectl expose deployment web --port=80 --target-port=8080 --type=NodePort\n\nUsage:\n  kubectl expose (-f FILENAME | TYPE NAME) [--port=port] [--protocol=TCP|UDP|SCTP] [--target-port=number-or-name] [--name=name] [--type=type] [options]",
        "scale" => "Set a new size for a deployment.\n\nExamples:\n  kubectl scale deployment web --replicas=3\n\nUsage:\n  kubectl scale --replicas=COUNT (-f FILENAME | TYPE NAME) [options]",
        "delete" => "Delete resources by file names, stdin, resources and names, or by resources and label selector.\nFor pods, kubectl waits until the object is gone unless --wait=false.\n\nExamples:\n  kubectl delete pod web-xxx\n  kubectl delete svc,deploy -l app=web\n  kubectl delete -f web.yaml\n  kubectl delete pods --all\n\nUsage:\n  kubectl delete ([-f FILENAME] | TYPE [(NAME | -l label | --all)]) [options]",
        "wait" => "Experimental: Wait for a specific condition on one or many resources.\n\nThe command takes multiple resources and waits until the specified condition is seen in the\nStatus field of every given resource. With --for=delete it waits for the resources to be deleted.\nA successful message is printed for each resource when its condition has been met.\n\nExamples:\n  kubectl wait --for=condition=Ready pod/busybox1\n  kubectl wait --for=condition=Ready=false pod/busybox1\n  kubectl wait --for=condition=Ready pod -l app=web --timeout=60s\n  kubectl wait --for=condition=Available deployment/web\n  kubectl wait --for=jsonpath='{.status.phase}'=Running pod/busybox1\n  kubectl wait --for=delete pod/busybox1 --timeout=60s\n\nOptions:\n  --for='': delete | condition=NAME[=VALUE] (default value True, compared ignoring case) | jsonpath='{EXPR}'[=VALUE]\n  --timeout=30s: per resource; 0 checks once, a negative duration waits for a week\n  -l, --selector  --all  -A, --all-namespaces  --field-selector\n\nUsage:\n  kubectl wait ([-f FILENAME] | resource.group/resource.name | resource.group [(-l label | --all)]) [--for=delete|--for condition=available|--for=jsonpath='{}'[=value]] [options]",
        "rollout" => "Show the status of a rollout (kplab: deployments, `status` only).\n\nExamples:\n  kubectl rollout status deployment/web\n  kubectl rollout status deployment web --timeout=60s\n\nUsage:\n  kubectl rollout status (TYPE NAME | TYPE/NAME) [--watch=false] [--timeout=DURATION] [options]",
        "label" => "Update the labels on a resource.\n\nExamples:\n  kubectl label pods web-xxx tier=frontend\n  kubectl label pods web-xxx tier=backend --overwrite\n  kubectl label pods web-xxx tier-\n\nUsage:\n  kubectl label [--overwrite] (-f FILENAME | TYPE NAME) KEY_1=VAL_1 ... KEY_N=VAL_N [options]",
        "patch" => "Update fields of a resource using a patch (JSON or YAML).\n\nNote (kplab): --type strategic (the default) is applied as a JSON merge patch (RFC 7386):\nlists in the patch replace whole lists instead of being merged by key. --type merge is the\nsame; --type json applies an RFC 6902 JSON patch.\n\nExamples:\n  kubectl patch svc web -p '{\"spec\":{\"type\":\"NodePort\"}}'\n  kubectl patch deploy web --type merge -p '{\"spec\":{\"replicas\":2}}'\n\nUsage:\n  kubectl patch (-f FILENAME | TYPE NAME) [-p PATCH] [--type strategic|merge|json] [options]",
        "exec" => "Execute a command in a pod (its network namespace on the pod's node).\n\nExamples:\n  kubectl exec web-xxx -- curl -s 10.96.0.10\n  kubectl exec -it web-xxx -- sh\n\nUsage:\n  kubectl exec (POD | TYPE/NAME) [-c CONTAINER] [flags] -- COMMAND [args...] [options]",
        "logs" => "Print the logs of a pod (kplab's echo server log). kube-system component pods that are\nnot API objects in kplab (kube-proxy-<node>, kube-apiserver-<node>, kube-controller-manager-<node>,\nkube-scheduler-<node>) print that component's log on <node>.\n\nExamples:\n  kubectl logs web-xxx\n  kubectl logs -n kube-system kube-proxy-node-2 --tail=20\n\nUsage:\n  kubectl logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER] [options]",
        "run" => "Create and run a particular image in a pod.\n\nExamples:\n  kubectl run nginx --image=nginx --port=80\n\nUsage:\n  kubectl run NAME --image=image [--env=\"key=value\"] [--port=port] [--labels=k=v] [--dry-run=server|client] [options]",
        _ => HELP,
    }
}

/// Runs the command named by the first positional argument.
pub fn dispatch(ctx: &mut Ctx, a: &Args) -> R {
    let Some(cmd) = a.pos.first().map(String::as_str) else {
        let _ = writeln!(ctx.out, "{HELP}");
        return Ok(());
    };
    if a.bool("help") || cmd == "help" {
        let topic = if cmd == "help" {
            a.pos.get(1).map(String::as_str).unwrap_or("")
        } else {
            cmd
        };
        let _ = writeln!(ctx.out, "{}", help_for(topic));
        return Ok(());
    }
    match cmd {
        "get" => get(ctx, a),
        "describe" => describe_cmd(ctx, a),
        "apply" => apply(ctx, a),
        "create" => create(ctx, a),
        "delete" => delete(ctx, a),
        "scale" => scale(ctx, a),
        "rollout" => rollout(ctx, a),
        "label" => label(ctx, a),
        "patch" => patch(ctx, a),
        "edit" => edit(ctx, a),
        "expose" => expose(ctx, a),
        "run" => run_pod(ctx, a),
        "exec" => super::exec::exec(ctx, a),
        "logs" => super::exec::logs(ctx, a),
        "version" => version(ctx, a),
        "cluster-info" => cluster_info(ctx, a),
        "api-resources" => api_resources(ctx, a),
        "config" => config(ctx, a),
        "wait" => super::wait::wait(ctx, a),
        other => Err(Fail::Raw(format!(
            "error: unknown command \"{other}\" for \"kubectl\"\nRun 'kubectl --help' for usage."
        ))),
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Resolves a resource type as typed by the user.
pub fn resolve_type(t: &str) -> Result<&'static Resource, Fail> {
    Resource::resolve(t)
        .ok_or_else(|| Fail::Msg(format!("the server doesn't have a resource type \"{t}\"")))
}

/// `TYPE NAME...`, `TYPE/NAME...`, `TYPE1,TYPE2`, `all`: the resources and names requested.
pub(super) struct Targets {
    pub(super) groups: Vec<(&'static Resource, Vec<String>)>,
    /// One object named explicitly (`-o yaml` prints it bare rather than as a List).
    single: bool,
    /// Several types (names get a `kind/` prefix in tables).
    multi_type: bool,
}

pub(super) fn targets(cmd: &str, words: &[String]) -> Result<Targets, Fail> {
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

fn ns_for<'a>(ctx: &'a Ctx, r: &Resource, all: bool) -> Option<&'a str> {
    if !r.namespaced || all {
        None
    } else {
        Some(ctx.namespace.as_str())
    }
}

fn sort_items(items: &mut [Value]) {
    items.sort_by(|a, b| {
        (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name()))
    });
}

enum Format {
    Table {
        wide: bool,
    },
    Yaml,
    Json,
    Name,
    JsonPath(jsonpath::Template),
    /// `-o custom-columns=HEADER:PATH,...` (or `custom-columns-file=FILE`).
    CustomColumns {
        columns: Vec<(String, jsonpath::Template)>,
        headers: bool,
    },
}

/// The format `-o` asks for, when it is given (apply, create, run: otherwise a status line).
fn explicit_format(a: &Args) -> Result<Option<Format>, Fail> {
    a.get("output").map(|_| parse_format(a)).transpose()
}

/// The format `-o` asks for (a table when it is not given).
fn parse_format(a: &Args) -> Result<Format, Fail> {
    let o = a.get("output").unwrap_or("");
    let no_headers = a.bool("no-headers");
    Ok(match o {
        "" => Format::Table { wide: false },
        "wide" => Format::Table { wide: true },
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        "name" => Format::Name,
        // A bare `custom-columns` is an empty spec (kubectl's "no custom columns given").
        _ if o == "custom-columns" || o.starts_with("custom-columns=") => Format::CustomColumns {
            columns: custom_columns_from_spec(o.strip_prefix("custom-columns=").unwrap_or(""))?,
            headers: !no_headers,
        },
        _ => {
            if let Some(file) = o.strip_prefix("custom-columns-file=") {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| Fail::Msg(format!("error reading template {file}, {e}")))?;
                Format::CustomColumns {
                    columns: custom_columns_from_template(&text)?,
                    headers: true,
                }
            } else if let Some(t) = o
                .strip_prefix("jsonpath=")
                .or_else(|| o.strip_prefix("jsonpath-as-json="))
            {
                let t = t.trim();
                let t = t
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .unwrap_or(t);
                let tpl = jsonpath::Template::parse(t)
                    .map_err(|e| Fail::Msg(format!("error parsing jsonpath {t}, {e}")))?;
                Format::JsonPath(tpl)
            } else if o == "jsonpath" {
                return Err(Fail::Msg(
                    "template format specified but no template given".into(),
                ));
            } else {
                return Err(Fail::Msg(format!(
                    "unable to match a printer suitable for the output format \"{o}\", allowed formats are: custom-columns,custom-columns-file,json,jsonpath,jsonpath-as-json,name,wide,yaml"
                )));
            }
        }
    })
}

/// `NAME:.metadata.name,IP:status.podIP`: comma-separated `HEADER:PATH` pairs, paths relaxed.
fn custom_columns_from_spec(spec: &str) -> Result<Vec<(String, jsonpath::Template)>, Fail> {
    if spec.is_empty() {
        return Err(Fail::Msg(
            "custom-columns format specified but no custom columns given".into(),
        ));
    }
    spec.split(',')
        .map(|part| {
            let (header, path) = part.split_once(':').ok_or_else(|| {
                Fail::Msg(format!(
                    "unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
                ))
            })?;
            Ok((header.to_string(), column_template(path)?))
        })
        .collect()
}

/// `-o custom-columns-file`: a line of headers and a line of paths, both split on whitespace.
fn custom_columns_from_template(text: &str) -> Result<Vec<(String, jsonpath::Template)>, Fail> {
    let mut lines = text.lines();
    let expected = "Expected format is one line of space separated headers, one line of space separated column specs.";
    let headers: Vec<&str> = lines
        .next()
        .ok_or_else(|| Fail::Msg(format!("invalid template, missing header line. {expected}")))?
        .split_whitespace()
        .collect();
    let specs: Vec<&str> = lines
        .next()
        .ok_or_else(|| Fail::Msg(format!("invalid template, missing spec line. {expected}")))?
        .split_whitespace()
        .collect();
    if headers.len() != specs.len() {
        return Err(Fail::Msg(format!(
            "number of headers ({}) and field specifications ({}) don't match",
            headers.len(),
            specs.len()
        )));
    }
    headers
        .iter()
        .zip(&specs)
        .map(|(h, p)| Ok((h.to_string(), column_template(p)?)))
        .collect()
}

fn column_template(path: &str) -> Result<jsonpath::Template, Fail> {
    let relaxed = jsonpath::relaxed(path).map_err(|e| Fail::Msg(e.0))?;
    jsonpath::Template::parse(&relaxed).map_err(|e| Fail::Msg(e.0))
}

/// One row of custom columns: every value a path finds, joined by `,`; `<none>` for none.
fn custom_columns_row(
    columns: &[(String, jsonpath::Template)],
    obj: &Value,
) -> Result<String, Fail> {
    let mut cells = Vec::with_capacity(columns.len());
    for (_, t) in columns {
        let results = t.results(obj).map_err(|e| Fail::Msg(e.0))?;
        let values: Vec<String> = results.iter().flatten().map(output::go_sprint).collect();
        cells.push(if results.first().is_none_or(Vec::is_empty) {
            "<none>".to_string()
        } else {
            values.join(",")
        });
    }
    Ok(cells.join("\t"))
}

fn as_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// Prints objects in a non-table format (`-o yaml|json|name|jsonpath`).
fn print_generic(ctx: &mut Ctx, fmt: &Format, items: Vec<Value>, single: bool) -> R {
    match fmt {
        Format::CustomColumns { columns, headers } => {
            let mut text = String::new();
            if *headers {
                let names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
                text.push_str(&names.join("\t"));
                text.push('\n');
            }
            for o in &items {
                text.push_str(&custom_columns_row(columns, o)?);
                text.push('\n');
            }
            let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
        }
        Format::Name => {
            for o in &items {
                let r = o
                    .get("kind")
                    .and_then(Value::as_str)
                    .and_then(Resource::by_kind);
                let prefix = r.map(kind_prefix).unwrap_or_default();
                let _ = writeln!(ctx.out, "{prefix}/{}", o.name());
            }
        }
        _ => {
            let data = if single && items.len() == 1 {
                items.into_iter().next().unwrap_or(Value::Null)
            } else {
                as_list(items)
            };
            match fmt {
                Format::Yaml => {
                    let _ = write!(ctx.out, "{}", output::go_yaml(&data));
                }
                Format::Json => {
                    let _ = write!(ctx.out, "{}", output::go_json_indent(&data));
                }
                Format::JsonPath(t) => {
                    let text = t.execute(&data).map_err(|e| {
                        Fail::Msg(format!(
                            "error executing jsonpath {:?}: Error executing template: {e}. Printing more information for debugging the template:\n\ttemplate was:\n\t\t{}\n\tobject given to jsonpath engine was:\n\t\t{}\n",
                            t.source(),
                            t.source(),
                            output::go_json_compact(&data)
                        ))
                    })?;
                    let _ = write!(ctx.out, "{text}");
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn get(ctx: &mut Ctx, a: &Args) -> R {
    let fmt = parse_format(a)?;
    let t = targets("get", &a.pos[1..])?;
    let all_ns = a.bool("all-namespaces");
    let has_names = t.groups.iter().any(|g| !g.1.is_empty());
    if all_ns && has_names {
        return Err(Fail::Msg(
            "a resource cannot be retrieved by name across all namespaces".into(),
        ));
    }
    let selector = a.get("selector");
    let field = a.get("field-selector");
    let sort_by = a
        .get("sort-by")
        .map(|e| {
            let t = if e.starts_with('{') {
                e.to_string()
            } else {
                format!("{{{e}}}")
            };
            jsonpath::Template::parse(&t)
                .map_err(|err| Fail::Msg(format!("couldn't parse --sort-by {e}: {err}")))
        })
        .transpose()?;
    let ignore_not_found = a.bool("ignore-not-found");
    let mut results: Vec<(&'static Resource, Vec<Value>)> = Vec::new();
    let mut errors: Vec<Fail> = Vec::new();
    let mut list_versions: Vec<String> = Vec::new();
    for (r, names) in &t.groups {
        let ns = ns_for(ctx, r, all_ns);
        let mut items = Vec::new();
        if names.is_empty() {
            let list = ctx.client.list(r, ns, selector, field)?;
            items = list.items;
            list_versions.push(list.resource_version);
            sort_items(&mut items);
        } else {
            for n in names {
                match ctx.client.get(r, ns, n) {
                    Ok(mut o) => {
                        if let Some(m) = o.as_object_mut() {
                            m.entry("kind").or_insert(json!(r.kind));
                            m.entry("apiVersion").or_insert(json!(r.api_version()));
                        }
                        items.push(o)
                    }
                    Err(e) if e.is_not_found() && ignore_not_found => {}
                    Err(e) if e.is_not_found() || e.status().is_some() => {
                        errors.push(Fail::Client(e))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if let Some(tpl) = &sort_by {
            sort_by_template(&mut items, tpl)?;
        }
        results.push((r, items));
    }
    let total: usize = results.iter().map(|r| r.1.len()).sum();
    let watching = a.bool("watch");
    match &fmt {
        Format::Table { wide } => {
            let opts = TableOptions {
                wide: *wide,
                show_labels: a.bool("show-labels"),
                no_headers: a.bool("no-headers"),
                with_namespace: all_ns,
                with_kind: t.multi_type || a.bool("show-kind"),
                now: now(),
            };
            let mut text = String::new();
            for (r, items) in results.iter().filter(|r| !r.1.is_empty()) {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&printers::table_text(r, items, &opts));
            }
            let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
            if watching {
                return watch_table(ctx, &t, &results, &list_versions, all_ns, selector, &opts);
            }
            if total == 0 && errors.is_empty() && !ignore_not_found {
                let namespaced = t.groups.iter().any(|g| g.0.namespaced);
                if namespaced && !all_ns {
                    let _ = writeln!(
                        ctx.err,
                        "No resources found in {} namespace.",
                        ctx.namespace
                    );
                } else {
                    let _ = writeln!(ctx.err, "No resources found");
                }
            }
        }
        _ => {
            let items: Vec<Value> = results.into_iter().flat_map(|r| r.1).collect();
            if !items.is_empty() || errors.is_empty() {
                print_generic(ctx, &fmt, items, t.single)?;
            }
        }
    }
    finish_errors(ctx, errors)
}

fn sort_by_template(items: &mut [Value], tpl: &jsonpath::Template) -> R {
    let mut keyed: Vec<(String, Value)> = Vec::new();
    for it in items.iter() {
        let k = tpl.execute(it).map_err(|e| {
            Fail::Msg(format!(
                "couldn't find any field with path in the list of objects: {e}"
            ))
        })?;
        keyed.push((k, it.clone()));
    }
    keyed.sort_by(|a, b| match (a.0.parse::<f64>(), b.0.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.0.cmp(&b.0),
    });
    for (slot, (_, v)) in items.iter_mut().zip(keyed) {
        *slot = v;
    }
    Ok(())
}

/// `get -w`: after the table, one row per change, aligned with the table's columns (kubectl's
/// tabwriter remembers column widths). Runs until interrupted.
fn watch_table(
    ctx: &mut Ctx,
    t: &Targets,
    results: &[(&'static Resource, Vec<Value>)],
    versions: &[String],
    all_ns: bool,
    selector: Option<&str>,
    opts: &TableOptions,
) -> R {
    if t.groups.len() != 1 || !t.groups[0].1.is_empty() {
        return Err(Fail::Msg(
            "kplab supports --watch for one resource type listed without names (e.g. kubectl get pods -w)".into(),
        ));
    }
    let r = results[0].0;
    let ns = ns_for(ctx, r, all_ns).map(String::from);
    let mut shown: Vec<Value> = results[0].1.clone();
    let mut rv = versions.first().cloned().unwrap_or_default();
    let _ = ctx.out.flush();
    loop {
        let stream = ctx
            .client
            .watch_selected(r, ns.as_deref(), Some(&rv), selector, None)?;
        for ev in stream {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) if e.is_gone() => {
                    rv = String::new();
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(v) = ev.object.resource_version() {
                rv = v.to_string();
            }
            if !matches!(
                ev.event_type,
                crate::kube::client::EventType::Added
                    | crate::kube::client::EventType::Modified
                    | crate::kube::client::EventType::Deleted
            ) {
                continue;
            }
            let mut o = ev.object;
            if let Some(m) = o.as_object_mut() {
                m.entry("kind").or_insert(json!(r.kind));
            }
            shown.push(o);
            let mut row_opts = *opts;
            row_opts.now = now();
            let text = tabwriter::TABLE.format(&printers::table_text(r, &shown, &row_opts));
            if let Some(last) = text.lines().last() {
                let _ = writeln!(ctx.out, "{last}");
                let _ = ctx.out.flush();
            }
        }
    }
}

fn finish_errors(ctx: &mut Ctx, errors: Vec<Fail>) -> R {
    let n = errors.len();
    for (i, e) in errors.into_iter().enumerate() {
        if i + 1 == n {
            return Err(e);
        }
        let text = match e {
            Fail::Client(c) => super::client_error_text(&c),
            Fail::Msg(m) => format!("error: {m}"),
            Fail::Raw(m) | Fail::Usage(_, m) => m,
            Fail::Exit(_) => continue,
        };
        let _ = writeln!(ctx.err, "{text}");
    }
    Ok(())
}

fn related_for(ctx: &Ctx, o: &Value) -> Result<describe::Related, Fail> {
    let mut rel = describe::Related::default();
    match o.get("kind").and_then(Value::as_str) {
        Some("Service") => {
            if let Some(r) = Resource::by_kind("EndpointSlice") {
                let sel = format!("kubernetes.io/service-name={}", o.name());
                rel.endpoint_slices = ctx.client.list(r, o.namespace(), Some(&sel), None)?.items;
            }
        }
        Some("Node") => {
            if let Some(r) = Resource::by_kind("Pod") {
                let fs = format!("spec.nodeName={}", o.name());
                let mut pods: Vec<Value> = ctx
                    .client
                    .list(r, None, None, Some(&fs))?
                    .items
                    .into_iter()
                    .filter(|p| {
                        let ph = p
                            .pointer("/status/phase")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        ph != "Succeeded"
                            && ph != "Failed"
                            && p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(o.name())
                    })
                    .collect();
                sort_items(&mut pods);
                rel.node_pods = pods;
            }
        }
        _ => {}
    }
    Ok(rel)
}

fn describe_cmd(ctx: &mut Ctx, a: &Args) -> R {
    let t = targets("describe", &a.pos[1..]).map_err(|f| match f {
        Fail::Raw(_) => Fail::Msg("You must specify the type of resource to describe. Use \"kubectl api-resources\" for a complete list of supported resources.".into()),
        other => other,
    })?;
    let all_ns = a.bool("all-namespaces");
    let mut objects: Vec<Value> = Vec::new();
    let mut errors = Vec::new();
    for (r, names) in &t.groups {
        let ns = ns_for(ctx, r, all_ns);
        if names.is_empty() {
            let mut items = ctx.client.list(r, ns, a.get("selector"), None)?.items;
            sort_items(&mut items);
            objects.extend(items);
            continue;
        }
        for n in names {
            match ctx.client.get(r, ns, n) {
                Ok(mut o) => {
                    if let Some(m) = o.as_object_mut() {
                        m.entry("kind").or_insert(json!(r.kind));
                    }
                    objects.push(o)
                }
                Err(e) if e.is_not_found() => {
                    // kubectl describe falls back to a name-prefix match.
                    let mut items: Vec<Value> = ctx
                        .client
                        .list(r, ns, None, None)?
                        .items
                        .into_iter()
                        .filter(|o| o.name().starts_with(n.as_str()))
                        .collect();
                    if items.is_empty() {
                        errors.push(Fail::Client(e));
                    } else {
                        sort_items(&mut items);
                        objects.extend(items);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if objects.is_empty() && errors.is_empty() {
        if t.groups.iter().any(|g| g.0.namespaced) && !all_ns {
            let _ = writeln!(
                ctx.err,
                "No resources found in {} namespace.",
                ctx.namespace
            );
        } else {
            let _ = writeln!(ctx.err, "No resources found");
        }
    }
    let n = now();
    for (i, o) in objects.iter().enumerate() {
        let rel = related_for(ctx, o)?;
        let text = describe::describe(o, &rel, n);
        if i > 0 {
            let _ = write!(ctx.out, "\n\n");
        }
        let _ = write!(ctx.out, "{text}");
    }
    finish_errors(ctx, errors)
}

/// The `kind.group/name` label kubectl prints in apply/create/delete messages.
fn obj_label(r: &Resource, name: &str) -> String {
    format!("{}/{}", kind_prefix(r), name)
}

/// Target namespace of a manifest document; errors when it contradicts an explicit `-n`.
fn doc_namespace(ctx: &Ctx, r: &Resource, doc: &Doc) -> Result<Option<String>, Fail> {
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
pub(super) fn load_docs(ctx: &mut Ctx, a: &Args, cmd: &str) -> Result<Vec<Loaded>, Fail> {
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

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether `want` (from a manifest) is already satisfied by `have` (live): every field in
/// `want` is present and equal; lists compare element-wise the same way, so server-side
/// defaults in live objects do not count as differences.
fn subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| {
            h.get(k).is_some_and(|hv| subset(v, hv)) || (v.is_null() && !h.contains_key(k))
        }),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(x, y)| subset(x, y))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => want == have,
    }
}

/// The merge patch `kubectl apply` sends: fields of the new configuration that differ from the
/// live object, and `null` for fields the previous configuration had and the new one dropped.
fn apply_patch(last: Option<&Value>, new: &Value, live: &Value) -> Value {
    let mut patch = serde_json::Map::new();
    if let (Value::Object(n), Value::Object(l)) = (new, live) {
        for (k, v) in n {
            match l.get(k) {
                Some(lv) if subset(v, lv) => {}
                Some(lv) if v.is_object() && lv.is_object() => {
                    let sub = apply_patch(last.and_then(|x| x.get(k)), v, lv);
                    if sub.as_object().is_some_and(|m| !m.is_empty()) {
                        patch.insert(k.clone(), sub);
                    }
                }
                _ => {
                    patch.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(Value::Object(old)) = last {
            for k in old.keys() {
                if !n.contains_key(k) && l.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
        }
    }
    Value::Object(patch)
}

fn with_last_applied(obj: &Value) -> (Value, String) {
    let mut cfg = obj.clone();
    if let Some(m) = cfg
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        m.remove(LAST_APPLIED);
        if m.is_empty() {
            if let Some(md) = cfg.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                md.remove("annotations");
            }
        }
    }
    let text = format!("{}\n", output::go_json_compact(&cfg));
    let mut out = obj.clone();
    if let Some(md) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = md.entry("annotations").or_insert_with(|| json!({}));
        if let Some(m) = ann.as_object_mut() {
            m.insert(LAST_APPLIED.into(), json!(text));
        }
    }
    (out, text)
}

fn dry_run_mode(a: &Args) -> Result<Option<&str>, Fail> {
    match a.get("dry-run") {
        None | Some("none") => Ok(None),
        Some("client") => Ok(Some("client")),
        Some("server") => Err(Fail::Msg(
            "kplab's API server does not implement server-side dry run: use --dry-run=client"
                .into(),
        )),
        Some(o) => Err(Fail::Msg(format!(
            "Invalid dry-run value ({o}). Must be \"none\", \"server\", or \"client\"."
        ))),
    }
}

fn dry_suffix(mode: Option<&str>) -> &'static str {
    match mode {
        Some("client") => " (dry run)",
        Some("server") => " (server dry run)",
        _ => "",
    }
}

fn apply(ctx: &mut Ctx, a: &Args) -> R {
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let docs = load_docs(ctx, a, "apply")?;
    let mut errors = Vec::new();
    for (doc, r, ns) in docs {
        let name = doc.object.name().to_string();
        let mut obj = doc.object.clone();
        if let (Some(ns), Some(md)) = (&ns, obj.get_mut("metadata").and_then(Value::as_object_mut))
        {
            md.insert("namespace".into(), json!(ns));
        }
        let (desired, _) = with_last_applied(&obj);
        let label = obj_label(r, &name);
        let live = match ctx.client.get(r, ns.as_deref(), &name) {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => {
                errors.push(Fail::Raw(format!(
                    "{} when retrieving \"{}\"",
                    super::client_error_text(&e),
                    doc.source
                )));
                continue;
            }
        };
        let result = match live {
            None => {
                if dry == Some("client") {
                    Ok((desired.clone(), "created"))
                } else {
                    ctx.client
                        .create(r, ns.as_deref(), &desired)
                        .map(|v| (v, "created"))
                }
            }
            Some(live) => {
                let last: Option<Value> = live
                    .annotations()
                    .get(LAST_APPLIED)
                    .and_then(|t| serde_json::from_str(t).ok());
                if last.is_none() {
                    let _ = writeln!(
                        ctx.err,
                        "Warning: resource {}/{name} is missing the {LAST_APPLIED} annotation which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by either kubectl create --save-config or kubectl apply. The missing annotation will be patched automatically.",
                        r.plural
                    );
                }
                let mut patch = apply_patch(last.as_ref(), &obj, &live);
                if patch.as_object().is_some_and(|m| {
                    m.is_empty()
                        || (m.len() == 1
                            && m.get("metadata")
                                .is_some_and(|md| md.as_object().is_some_and(|x| x.is_empty())))
                }) && last.is_some()
                {
                    Ok((live.clone(), "unchanged"))
                } else {
                    let (_, text) = with_last_applied(&obj);
                    let md = patch
                        .as_object_mut()
                        .map(|p| p.entry("metadata").or_insert_with(|| json!({})));
                    if let Some(md) = md {
                        md["annotations"][LAST_APPLIED] = json!(text);
                    }
                    if dry == Some("client") {
                        Ok((live.clone(), "configured"))
                    } else {
                        ctx.client
                            .merge_patch(r, ns.as_deref(), &name, &patch)
                            .map(|v| (v, "configured"))
                    }
                }
            }
        };
        match result {
            Ok((v, verb)) => match &fmt {
                Some(f) => print_generic(ctx, f, vec![v], true)?,
                None => {
                    let _ = writeln!(ctx.out, "{label} {verb}{}", dry_suffix(dry));
                }
            },
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(Fail::Raw(wrap_when(&e, "creating", &doc.source))),
        }
    }
    finish_errors(ctx, errors)
}

/// kubectl's `error when creating "FILE": …` wrapping of a server error.
fn wrap_when(e: &ClientError, verb: &str, source: &str) -> String {
    let text = super::client_error_text(e);
    if text.starts_with("The ") {
        return text;
    }
    match e.status() {
        Some(st) if !st.reason.is_empty() => format!(
            "Error from server ({}): error when {verb} \"{source}\": {}",
            st.reason, st.message
        ),
        _ => text,
    }
}

fn create(ctx: &mut Ctx, a: &Args) -> R {
    match a.pos.get(1).map(String::as_str) {
        Some("deployment") | Some("deploy") => return create_deployment(ctx, a),
        Some("namespace") | Some("ns") => return create_namespace(ctx, a),
        Some(other) if !a.has("filename") => {
            return Err(Fail::Raw(format!(
                "error: unknown command \"{other}\" for \"kubectl create\"\nkplab supports: kubectl create -f FILE | deployment NAME --image=IMAGE | namespace NAME"
            )))
        }
        _ => {}
    }
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let docs = load_docs(ctx, a, "create")?;
    let mut errors = Vec::new();
    for (doc, r, ns) in docs {
        let label = obj_label(r, doc.object.name());
        let res = if dry == Some("client") {
            Ok(doc.object.clone())
        } else {
            ctx.client.create(r, ns.as_deref(), &doc.object)
        };
        match res {
            Ok(v) => emit_created(ctx, &fmt, v, &label, dry)?,
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(Fail::Raw(wrap_when(&e, "creating", &doc.source))),
        }
    }
    finish_errors(ctx, errors)
}

fn emit_created(
    ctx: &mut Ctx,
    fmt: &Option<Format>,
    v: Value,
    label: &str,
    dry: Option<&str>,
) -> R {
    match fmt {
        Some(f) => print_generic(ctx, f, vec![v], true),
        None => {
            let _ = writeln!(ctx.out, "{label} created{}", dry_suffix(dry));
            Ok(())
        }
    }
}

/// The container name kubectl derives from an image (`registry/x/nginx:1.27` → `nginx`).
pub fn container_name_from_image(image: &str) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split(':').next().unwrap_or(base);
    let base = base.split('@').next().unwrap_or(base);
    base.replace('_', "-")
}

fn send_new(ctx: &mut Ctx, a: &Args, r: &Resource, obj: Value) -> R {
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let label = obj_label(r, obj.name());
    let v = if dry == Some("client") {
        obj
    } else {
        let ns = if r.namespaced {
            Some(ctx.namespace.clone())
        } else {
            None
        };
        ctx.client.create(r, ns.as_deref(), &obj)?
    };
    emit_created(ctx, &fmt, v, &label, dry)
}

fn create_deployment(ctx: &mut Ctx, a: &Args) -> R {
    let Some(name) = a.pos.get(2) else {
        return Err(Fail::Usage(
            "create deployment".into(),
            "exactly one NAME is required, got 0".into(),
        ));
    };
    let images = a.all("image");
    if images.is_empty() {
        return Err(Fail::Raw(
            "error: required flag(s) \"image\" not set".into(),
        ));
    }
    let replicas: i64 = match a.get("replicas") {
        Some(r) => r.parse().map_err(|_| Fail::Msg(format!("invalid argument \"{r}\" for \"--replicas\" flag: strconv.ParseInt: parsing \"{r}\": invalid syntax")))?,
        None => 1,
    };
    let mut containers = Vec::new();
    for img in &images {
        let mut c = json!({"image": img, "name": container_name_from_image(img)});
        if let Some(p) = a.get("port") {
            let port: i64 = p.parse().map_err(|_| Fail::Msg(format!("invalid argument \"{p}\" for \"--port\" flag: strconv.ParseInt: parsing \"{p}\": invalid syntax")))?;
            c["ports"] = json!([{"containerPort": port}]);
        }
        c["resources"] = json!({});
        containers.push(c);
    }
    let mut metadata = json!({"creationTimestamp": null, "labels": {"app": name}, "name": name});
    if ctx.namespace_explicit {
        metadata["namespace"] = json!(ctx.namespace);
    }
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": name}},
                "spec": {"containers": containers}
            }
        },
        "status": {}
    });
    let r = resolve_type("deployments")?;
    send_new(ctx, a, r, obj)
}

fn create_namespace(ctx: &mut Ctx, a: &Args) -> R {
    let Some(name) = a.pos.get(2) else {
        return Err(Fail::Usage(
            "create namespace".into(),
            "exactly one NAME is required, got 0".into(),
        ));
    };
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"creationTimestamp": null, "name": name}, "spec": {}, "status": {}});
    let r = resolve_type("namespaces")?;
    send_new(ctx, a, r, obj)
}

fn run_pod(ctx: &mut Ctx, a: &Args) -> R {
    let Some(name) = a.pos.get(1) else {
        return Err(Fail::Usage("run".into(), "NAME is required for run".into()));
    };
    let Some(image) = a.get("image") else {
        return Err(Fail::Raw(
            "error: required flag(s) \"image\" not set".into(),
        ));
    };
    let mut labels = serde_json::Map::new();
    match a.get("labels") {
        Some(l) => {
            for kv in l.split(',') {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Fail::Msg(format!("invalid label spec: {kv}")))?;
                labels.insert(k.into(), json!(v));
            }
        }
        None => {
            labels.insert("run".into(), json!(name));
        }
    }
    let mut c = json!({"image": image, "name": name});
    let env: Vec<Value> = a
        .all("env")
        .iter()
        .filter_map(|e| {
            e.split_once('=')
                .map(|(k, v)| json!({"name": k, "value": v}))
        })
        .collect();
    if !env.is_empty() {
        c["env"] = json!(env);
    }
    if let Some(p) = a.get("port") {
        let port: i64 = p
            .parse()
            .map_err(|_| Fail::Msg(format!("invalid argument \"{p}\" for \"--port\" flag")))?;
        c["ports"] = json!([{"containerPort": port}]);
    }
    c["resources"] = json!({});
    let restart = a.get("restart").unwrap_or("Always");
    let mut metadata = json!({"creationTimestamp": null, "labels": labels, "name": name});
    if ctx.namespace_explicit {
        metadata["namespace"] = json!(ctx.namespace);
    }
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [c], "dnsPolicy": "ClusterFirst", "restartPolicy": restart},
        "status": {}
    });
    let r = resolve_type("pods")?;
    let attach = a.bool("stdin") || a.bool("tty") || a.bool("rm");
    if !attach {
        if let Some(rest) = &a.rest {
            let key = if a.bool("command") { "command" } else { "args" };
            let mut obj = obj;
            obj["spec"]["containers"][0][key] = json!(rest);
            return send_new(ctx, a, r, obj);
        }
        return send_new(ctx, a, r, obj);
    }
    if dry_run_mode(a)?.is_some() {
        return Err(Fail::Msg("--dry-run can't be used with attached containers options (--attach, --stdin, or --tty)".into()));
    }
    run_attached(ctx, a, r, obj, name)
}

/// `kubectl run NAME --image=X [--rm] -it -- CMD`: creates the pod, waits until it runs, runs
/// CMD (default `sh`) in it like `kubectl exec`, and deletes the pod afterwards with `--rm`.
fn run_attached(ctx: &mut Ctx, a: &Args, r: &'static Resource, obj: Value, name: &str) -> R {
    let ns = ctx.namespace.clone();
    ctx.client.create(r, Some(&ns), &obj)?;
    let start = std::time::Instant::now();
    loop {
        let p = ctx.client.get(r, Some(&ns), name)?;
        let phase = p
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        let host = p
            .pointer("/status/hostIP")
            .and_then(Value::as_str)
            .unwrap_or("");
        if phase == "Running" && !host.is_empty() {
            break;
        }
        if start.elapsed() > std::time::Duration::from_secs(120) {
            return Err(Fail::Msg(format!(
                "timed out waiting for the condition on pods/{name}"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let _ = writeln!(ctx.err, "Note (kplab): the image is not run; the command runs in pod {name}'s network namespace on its node, with the node's tools.");
    let _ = writeln!(
        ctx.err,
        "If you don't see a command prompt, try pressing enter."
    );
    let mut exec_args = a.clone();
    exec_args.pos = vec!["exec".into(), name.to_string()];
    exec_args.rest = Some(
        a.rest
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec!["sh".into()]),
    );
    let res = super::exec::exec(ctx, &exec_args);
    if a.bool("rm") {
        match ctx.client.delete(r, Some(&ns), name, None) {
            Ok(_) => {
                let _ = writeln!(ctx.out, "pod \"{name}\" deleted");
            }
            Err(e) => {
                let _ = writeln!(ctx.err, "{}", super::client_error_text(&e));
            }
        }
    }
    res
}

/// Go's `time.ParseDuration` for a `--timeout` flag: `30s`, `1m30s`, `1.5h`, `300ms`, `0`.
/// What zero means is the command's business (delete and rollout: no limit; wait: look once).
pub(super) fn parse_go_duration(t: &str) -> Result<std::time::Duration, Fail> {
    use crate::kube::time::DurationError;
    crate::kube::time::parse_go_duration(t).map_err(|e| {
        let why = match e {
            DurationError::MissingUnit => format!("missing unit in duration \"{t}\""),
            DurationError::UnknownUnit(u) => format!("unknown unit \"{u}\" in duration \"{t}\""),
            DurationError::Empty | DurationError::BadNumber(_) | DurationError::OutOfRange => {
                format!("invalid duration \"{t}\"")
            }
        };
        Fail::Msg(format!(
            "invalid argument \"{t}\" for \"--timeout\" flag: time: {why}"
        ))
    })
}

/// A `--timeout` where zero means no limit (a day is as good as none in a lab).
fn timeout_or_none(a: &Args, default: std::time::Duration) -> Result<std::time::Duration, Fail> {
    Ok(match a.get("timeout") {
        Some(t) => Some(parse_go_duration(t)?)
            .filter(|d| !d.is_zero())
            .unwrap_or(std::time::Duration::from_secs(86400)),
        None => default,
    })
}

/// One object a command acts on: its resource, namespace and name.
pub(super) type Named = (&'static Resource, Option<String>, String);

/// The objects `TYPE NAME...` names, or for a type without names the ones `-l`,
/// `--field-selector` or `--all` select (sorted by namespace and name), in the namespace of
/// `-n`, or every namespace with `-A`.
pub(super) fn named_objects(
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

fn delete(ctx: &mut Ctx, a: &Args) -> R {
    let force = a.bool("force");
    let grace: Option<i64> = match a.get("grace-period") {
        Some(g) => Some(g.parse().map_err(|_| {
            Fail::Msg(format!(
                "invalid argument \"{g}\" for \"--grace-period\" flag"
            ))
        })?),
        None if a.bool("now") => Some(1),
        None => None,
    };
    let grace = if force && grace.is_none() {
        Some(0)
    } else {
        grace
    };
    let wait = a.get("wait").map(|w| w != "false").unwrap_or(true);
    let timeout = timeout_or_none(a, std::time::Duration::from_secs(120))?;
    let mut victims: Vec<Named> = Vec::new();
    let mut errors = Vec::new();
    if a.has("filename") {
        for (doc, r, ns) in load_docs(ctx, a, "delete")? {
            victims.push((r, ns, doc.object.name().to_string()));
        }
    } else {
        let t = targets("delete", &a.pos[1..]).map_err(|_| {
            Fail::Raw("error: You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'".into())
        })?;
        victims = named_objects(ctx, a, &t.groups)?;
        if victims.is_empty() {
            let _ = writeln!(ctx.err, "No resources found");
            return Ok(());
        }
    }
    if force && grace == Some(0) {
        let _ = writeln!(ctx.err, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
    }
    let dry = dry_run_mode(a)?;
    let mut waits = Vec::new();
    for (r, ns, name) in victims {
        let res = if dry.is_some() {
            ctx.client.get(r, ns.as_deref(), &name)
        } else {
            ctx.client.delete(r, ns.as_deref(), &name, grace)
        };
        match res {
            Ok(_) => {
                let verb = if force && grace == Some(0) {
                    "force deleted"
                } else {
                    "deleted"
                };
                let _ = writeln!(
                    ctx.out,
                    "{} \"{name}\" {verb}{}",
                    r.singular_label(),
                    dry_suffix(dry)
                );
                if wait && dry.is_none() && r.kind == "Pod" && grace != Some(0) {
                    waits.push((r, ns, name));
                }
            }
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(Fail::Client(e)),
        }
    }
    let _ = ctx.out.flush();
    for (r, ns, name) in waits {
        super::wait::wait_one(ctx, &WaitFor::Delete, r, ns.as_deref(), &name, timeout)?;
    }
    finish_errors(ctx, errors)
}

trait SingularLabel {
    fn singular_label(&self) -> String;
}

impl SingularLabel for Resource {
    /// `pod`, `service`, `deployment.apps`: the word kubectl uses in `… "x" deleted`.
    fn singular_label(&self) -> String {
        kind_prefix(self)
    }
}

/// `TYPE NAME` or `TYPE/NAME` as the first arguments of scale/label/patch/expose.
fn one_target(cmd: &str, words: &[String]) -> Result<(&'static Resource, String, usize), Fail> {
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

fn scale(ctx: &mut Ctx, a: &Args) -> R {
    let Some(rep) = a.get("replicas") else {
        return Err(Fail::Raw(
            "error: required flag(s) \"replicas\" not set".into(),
        ));
    };
    let n: i64 = rep.parse().map_err(|_| Fail::Msg(format!("invalid argument \"{rep}\" for \"--replicas\" flag: strconv.ParseInt: parsing \"{rep}\": invalid syntax")))?;
    if n < 0 {
        return Err(Fail::Msg(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0"
                .into(),
        ));
    }
    let (r, name, _) = one_target("scale", &a.pos[1..])?;
    if r.kind != "Deployment" {
        return Err(Fail::Msg(format!(
            "cannot scale {}: kplab scales deployments only",
            r.plural
        )));
    }
    let ns = ns_for(ctx, r, false).map(String::from);
    let dry = dry_run_mode(a)?;
    if dry.is_some() {
        ctx.client.get(r, ns.as_deref(), &name)?;
    } else {
        ctx.client
            .merge_patch(r, ns.as_deref(), &name, &json!({"spec": {"replicas": n}}))?;
    }
    let _ = writeln!(ctx.out, "{} scaled{}", obj_label(r, &name), dry_suffix(dry));
    Ok(())
}

/// `kubectl rollout status deployment/NAME [--watch=false] [--timeout=D]`: waits until the
/// Deployment's controller has observed its spec and every replica is updated and available,
/// printing kubectl's progress lines (its DeploymentStatusViewer wording).
fn rollout(ctx: &mut Ctx, a: &Args) -> R {
    let sub = a.pos.get(1).map(String::as_str).unwrap_or("");
    if sub != "status" {
        let what = if sub.is_empty() {
            "error: kplab's kubectl supports only \"kubectl rollout status\"".to_string()
        } else {
            format!("error: unknown command \"{sub}\" for \"kubectl rollout\"\nRun 'kubectl rollout --help' for usage.")
        };
        return Err(Fail::Raw(what));
    }
    let (r, name, _) = one_target("rollout status", &a.pos[2..])?;
    if r.kind != "Deployment" {
        return Err(Fail::Msg(format!(
            "no status viewer has been implemented for {}",
            r.kind
        )));
    }
    let ns = ns_for(ctx, r, false).map(String::from);
    let watch = a.get("watch").map(|w| w != "false").unwrap_or(true);
    let timeout = timeout_or_none(a, std::time::Duration::from_secs(86400))?;
    let start = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let d = ctx.client.get(r, ns.as_deref(), &name)?;
        let (line, done) = deployment_rollout_line(&d, &name);
        if line != last {
            let _ = write!(ctx.out, "{line}");
            last = line;
        }
        if done || !watch {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(Fail::Msg("timed out waiting for the condition".into()));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// kubectl's status line for a Deployment and whether the rollout is complete.
fn deployment_rollout_line(d: &Value, name: &str) -> (String, bool) {
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let generation = int(&d["metadata"]["generation"]);
    let st = &d["status"];
    if generation > int(&st["observedGeneration"]) {
        return (
            "Waiting for deployment spec update to be observed...\n".into(),
            false,
        );
    }
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let (updated, total, available) = (
        int(&st["updatedReplicas"]),
        int(&st["replicas"]),
        int(&st["availableReplicas"]),
    );
    if updated < want {
        return (format!("Waiting for deployment \"{name}\" rollout to finish: {updated} out of {want} new replicas have been updated...\n"), false);
    }
    if total > updated {
        return (format!("Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...\n", total - updated), false);
    }
    if available < updated {
        return (format!("Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available...\n"), false);
    }
    (
        format!("deployment \"{name}\" successfully rolled out\n"),
        true,
    )
}

fn label(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, used) = one_target("label", &a.pos[1..])?;
    let specs = &a.pos[1 + used..];
    if specs.is_empty() {
        return Err(Fail::Msg("at least one label update is required".into()));
    }
    let ns = ns_for(ctx, r, false).map(String::from);
    let live = ctx.client.get(r, ns.as_deref(), &name)?;
    let current = live.labels();
    let mut patch = serde_json::Map::new();
    let mut removed_only = true;
    for spec in specs {
        if let Some(k) = spec.strip_suffix('-') {
            patch.insert(k.to_string(), Value::Null);
            if !current.contains_key(k) {
                let _ = writeln!(ctx.err, "label \"{k}\" not found.");
            }
            continue;
        }
        let Some((k, v)) = spec.split_once('=') else {
            return Err(Fail::Msg(format!("invalid label spec: {spec}")));
        };
        removed_only = false;
        if let Some(old) = current.get(k) {
            if old != v && !a.bool("overwrite") {
                return Err(Fail::Msg(format!(
                    "'{k}' already has a value ({old}), and --overwrite is false"
                )));
            }
        }
        patch.insert(k.to_string(), json!(v));
    }
    let changed = patch.iter().any(|(k, v)| match v {
        Value::Null => current.contains_key(k),
        v => current.get(k).map(String::as_str) != v.as_str(),
    });
    let label = obj_label(r, &name);
    if !changed {
        let _ = writeln!(ctx.out, "{label} not labeled");
        return Ok(());
    }
    let dry = dry_run_mode(a)?;
    if dry.is_none() {
        ctx.client.merge_patch(
            r,
            ns.as_deref(),
            &name,
            &json!({"metadata": {"labels": patch}}),
        )?;
    }
    let _ = writeln!(
        ctx.out,
        "{label} {}{}",
        if removed_only { "unlabeled" } else { "labeled" },
        dry_suffix(dry)
    );
    Ok(())
}

/// Applies an RFC 6902 JSON patch to `doc`.
fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("json patch must be a list of operations")?;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation has no \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation has no \"path\"")?;
        let (parent, last) = path
            .rsplit_once('/')
            .ok_or_else(|| format!("invalid path {path}"))?;
        let last = last.replace("~1", "/").replace("~0", "~");
        let value = op.get("value").cloned();
        match kind {
            "add" | "replace" => {
                let target = doc
                    .pointer_mut(parent)
                    .ok_or_else(|| format!("doc is missing path: \"{path}\""))?;
                let value = value.ok_or("operation has no \"value\"")?;
                match target {
                    Value::Object(m) => {
                        if kind == "replace" && !m.contains_key(&last) {
                            return Err(format!(
                                "replace operation does not apply: doc is missing key: {path}"
                            ));
                        }
                        m.insert(last, value);
                    }
                    Value::Array(arr) => {
                        if last == "-" {
                            arr.push(value);
                        } else {
                            let i: usize = last
                                .parse()
                                .map_err(|_| format!("invalid index in {path}"))?;
                            if kind == "add" && i <= arr.len() {
                                arr.insert(i, value);
                            } else if i < arr.len() {
                                arr[i] = value;
                            } else {
                                return Err(format!("Unable to access invalid index: {i}"));
                            }
                        }
                    }
                    _ => return Err(format!("doc is missing path: \"{path}\"")),
                }
            }
            "remove" => {
                let target = doc
                    .pointer_mut(parent)
                    .ok_or_else(|| format!("doc is missing path: \"{path}\""))?;
                match target {
                    Value::Object(m) => {
                        m.remove(&last).ok_or_else(|| {
                            format!(
                                "remove operation does not apply: doc is missing path: \"{path}\""
                            )
                        })?;
                    }
                    Value::Array(arr) => {
                        let i: usize = last
                            .parse()
                            .map_err(|_| format!("invalid index in {path}"))?;
                        if i >= arr.len() {
                            return Err(format!(
                                "Unable to remove nonexistent key: {last}: missing value"
                            ));
                        }
                        arr.remove(i);
                    }
                    _ => return Err(format!("doc is missing path: \"{path}\"")),
                }
            }
            "test" => {
                if doc.pointer(path) != value.as_ref() {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

fn strip_volatile(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("resourceVersion");
        md.remove("generation");
        md.remove("managedFields");
    }
    v
}

fn patch(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, _) = one_target("patch", &a.pos[1..])?;
    let Some(text) = a.get("patch") else {
        return Err(Fail::Msg("must specify -p to patch".into()));
    };
    let patch: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            let docs = manifest::parse("patch", text).ok();
            match serde_yaml_ng::from_str::<Value>(text) {
                Ok(v) if docs.is_some() || v.is_object() || v.is_array() => v,
                _ => {
                    return Err(Fail::Msg(format!(
                        "unable to parse \"{text}\": yaml: did not find expected node content"
                    )))
                }
            }
        }
    };
    let ns = ns_for(ctx, r, false).map(String::from);
    let before = ctx.client.get(r, ns.as_deref(), &name)?;
    let dry = dry_run_mode(a)?;
    let after = match a.get("type").unwrap_or("strategic") {
        "strategic" | "merge" if dry.is_some() => {
            let mut doc = before.clone();
            crate::kube::patch::merge_patch(&mut doc, &patch);
            doc
        }
        "strategic" | "merge" => ctx.client.merge_patch(r, ns.as_deref(), &name, &patch)?,
        "json" => {
            let mut doc = before.clone();
            json_patch(&mut doc, &patch).map_err(Fail::Msg)?;
            if dry.is_some() {
                doc
            } else {
                ctx.client.replace(r, ns.as_deref(), &name, &doc)?
            }
        }
        other => {
            return Err(Fail::Msg(format!(
                "--type must be one of [json merge strategic], not \"{other}\""
            )))
        }
    };
    let label = obj_label(r, &name);
    if strip_volatile(&before) == strip_volatile(&after) {
        let _ = writeln!(ctx.out, "{label} patched (no change){}", dry_suffix(dry));
    } else {
        let _ = writeln!(ctx.out, "{label} patched{}", dry_suffix(dry));
    }
    Ok(())
}

const EDIT_HEADER: &str = "\
# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
";

/// `kubectl edit TYPE NAME`: the object as YAML in `$KUBE_EDITOR`/`$EDITOR` (default `vi`),
/// then a PUT of the edited object. On a server error the file is kept and its path printed.
fn edit(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, _) = one_target("edit", &a.pos[1..])?;
    let ns = ns_for(ctx, r, false).map(String::from);
    let original = ctx.client.get(r, ns.as_deref(), &name)?;
    let path =
        std::env::temp_dir().join(format!("kubectl-edit-{}-{}.yaml", std::process::id(), name));
    std::fs::write(
        &path,
        format!("{EDIT_HEADER}{}", output::go_yaml(&original)),
    )
    .map_err(|e| Fail::Msg(format!("writing {}: {e}", path.display())))?;
    let editor = std::env::var("KUBE_EDITOR")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .map_err(|e| Fail::Msg(format!("unable to launch the editor \"{editor}\": {e}")))?;
    if !status.success() {
        return Err(Fail::Msg(format!(
            "there was a problem with the editor \"{editor}\""
        )));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Fail::Msg(format!("reading {}: {e}", path.display())))?;
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let label = obj_label(r, &name);
    if body.trim().is_empty() {
        let _ = std::fs::remove_file(&path);
        let _ = writeln!(ctx.out, "Edit cancelled, no changes made.");
        return Ok(());
    }
    let docs = manifest::parse(&path.display().to_string(), &body).map_err(Fail::Msg)?;
    let Some(doc) = docs.into_iter().next() else {
        let _ = writeln!(ctx.out, "Edit cancelled, no changes made.");
        return Ok(());
    };
    if doc.object == original {
        let _ = std::fs::remove_file(&path);
        let _ = writeln!(ctx.out, "Edit cancelled, no changes made.");
        return Ok(());
    }
    match ctx.client.replace(r, ns.as_deref(), &name, &doc.object) {
        Ok(_) => {
            let _ = std::fs::remove_file(&path);
            let _ = writeln!(ctx.out, "{label} edited");
            Ok(())
        }
        Err(e) if e.status().is_some() => Err(Fail::Raw(format!(
            "error: {label} could not be saved: {}\nA copy of your changes has been stored to \"{}\"",
            super::client_error_text(&e),
            path.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

fn parse_port_value(p: &str) -> Value {
    match p.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(p),
    }
}

fn expose(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, _) = one_target("expose", &a.pos[1..])?;
    let ns = ns_for(ctx, r, false).map(String::from);
    let obj = ctx.client.get(r, ns.as_deref(), &name)?;
    let (selector, ports): (Value, Vec<Value>) = match r.kind {
        "Deployment" => {
            if obj.pointer("/spec/selector/matchExpressions").and_then(Value::as_array).is_some_and(|x| !x.is_empty()) {
                return Err(Fail::Msg("couldn't retrieve selectors via --selector flag or introspection: the deployment uses matchExpressions, which a Service selector cannot express".into()));
            }
            (
                obj.pointer("/spec/selector/matchLabels").cloned().unwrap_or(json!({})),
                container_ports(obj.pointer("/spec/template/spec/containers")),
            )
        }
        "Pod" => (
            obj.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            container_ports(obj.pointer("/spec/containers")),
        ),
        "Service" => (
            obj.pointer("/spec/selector").cloned().unwrap_or(json!({})),
            obj.pointer("/spec/ports").and_then(Value::as_array).map(|ps| {
                ps.iter().map(|p| json!({"port": p["port"], "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))})).collect()
            }).unwrap_or_default(),
        ),
        _ => {
            return Err(Fail::Msg(format!(
                "cannot expose a {}",
                r.kind
            )))
        }
    };
    if selector.as_object().is_none_or(|m| m.is_empty()) {
        return Err(Fail::Msg(format!("couldn't retrieve selectors via --selector flag or introspection: the {} has no labels to select", r.singular)));
    }
    let protocol = a.get("protocol");
    let mut svc_ports: Vec<Value> = Vec::new();
    if let Some(p) = a.get("port") {
        let port: i64 = p
            .parse()
            .map_err(|_| Fail::Msg(format!("invalid argument \"{p}\" for \"--port\" flag")))?;
        let proto = protocol
            .map(String::from)
            .or_else(|| {
                ports
                    .first()
                    .and_then(|x| x.get("protocol"))
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_else(|| "TCP".into());
        let tp = a
            .get("target-port")
            .map(parse_port_value)
            .unwrap_or(json!(port));
        svc_ports.push(json!({"port": port, "protocol": proto, "targetPort": tp}));
    } else {
        if ports.is_empty() {
            return Err(Fail::Msg("couldn't find port via --port flag or introspection\nSee 'kubectl expose -h' for help and examples".into()));
        }
        let many = ports.len() > 1;
        for (i, p) in ports.iter().enumerate() {
            let port = p["port"].clone();
            let proto = protocol.map(String::from).unwrap_or_else(|| {
                p.get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string()
            });
            let tp = a
                .get("target-port")
                .map(parse_port_value)
                .unwrap_or(port.clone());
            let mut sp = json!({"port": port, "protocol": proto, "targetPort": tp});
            if many {
                sp["name"] = json!(format!("port-{}", i + 1));
            }
            svc_ports.push(sp);
        }
    }
    let svc_name = a.get("name").unwrap_or(&name).to_string();
    let mut metadata = json!({"creationTimestamp": null, "name": svc_name});
    if let Some(l) = obj
        .pointer("/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
    {
        metadata["labels"] = l.clone();
    }
    let mut spec = json!({"ports": svc_ports, "selector": selector});
    if let Some(t) = a.get("type") {
        let ty = match t.to_ascii_lowercase().as_str() {
            "clusterip" => "ClusterIP",
            "nodeport" => "NodePort",
            "loadbalancer" => "LoadBalancer",
            "externalname" => "ExternalName",
            _ => return Err(Fail::Msg(format!("invalid service type \"{t}\": must be ClusterIP, NodePort, LoadBalancer or ExternalName"))),
        };
        spec["type"] = json!(ty);
    }
    if let Some(ip) = a.get("cluster-ip") {
        spec["clusterIP"] = json!(ip);
    }
    if let Some(ip) = a.get("external-ip") {
        spec["externalIPs"] = json!(ip.split(',').collect::<Vec<_>>());
    }
    if let Some(sa) = a.get("session-affinity") {
        spec["sessionAffinity"] = json!(sa);
    }
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec, "status": {"loadBalancer": {}}});
    let svc_res = resolve_type("services")?;
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let v = if dry == Some("client") {
        svc
    } else {
        ctx.client.create(svc_res, ns.as_deref(), &svc)?
    };
    match fmt {
        Some(f) => print_generic(ctx, &f, vec![v], true),
        None => {
            let _ = writeln!(ctx.out, "service/{svc_name} exposed{}", dry_suffix(dry));
            Ok(())
        }
    }
}

fn container_ports(containers: Option<&Value>) -> Vec<Value> {
    containers
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .flat_map(|c| c.get("ports").and_then(Value::as_array).cloned().unwrap_or_default())
                .map(|p| json!({"port": p["containerPort"], "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))}))
                .collect()
        })
        .unwrap_or_default()
}

fn version(ctx: &mut Ctx, a: &Args) -> R {
    let client_only = a.bool("client");
    let server = if client_only {
        None
    } else {
        Some(ctx.client.request("GET", "/version", &[], None))
    };
    match a.get("output") {
        Some(fmt @ ("json" | "yaml")) => {
            let mut v = json!({"clientVersion": {"major": "1", "minor": crate::kube::contract::KUBERNETES_MINOR, "gitVersion": super::CLIENT_VERSION, "platform": "linux/amd64"}, "kustomizeVersion": "v5.5.0"});
            if let Some(Ok(s)) = &server {
                v["serverVersion"] = s.clone();
            }
            let text = if fmt == "json" {
                output::go_json_indent(&v)
            } else {
                output::go_yaml(&v)
            };
            let _ = write!(ctx.out, "{text}");
        }
        _ => {
            let _ = writeln!(
                ctx.out,
                "Client Version: {}\nKustomize Version: v5.5.0",
                super::CLIENT_VERSION
            );
            if let Some(Ok(s)) = &server {
                let _ = writeln!(
                    ctx.out,
                    "Server Version: {}",
                    s.get("gitVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                );
            }
        }
    }
    match server {
        Some(Err(e)) => Err(e.into()),
        _ => Ok(()),
    }
}

fn cluster_info(ctx: &mut Ctx, _a: &Args) -> R {
    let base = ctx.client.base_url().to_string();
    ctx.client.request("GET", "/version", &[], None)?;
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal();
    let (g, y, off) = if color {
        ("\x1b[0;32m", "\x1b[0;33m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let _ = writeln!(
        ctx.out,
        "{g}Kubernetes control plane{off} is running at {y}{base}{off}"
    );
    if let Some(svc) = Resource::resolve("services") {
        if let Ok(dns) = ctx.client.get(svc, Some("kube-system"), "kube-dns") {
            let port_name = dns
                .pointer("/spec/ports/0/name")
                .and_then(Value::as_str)
                .map(|n| format!(":{n}"))
                .unwrap_or_default();
            let _ = writeln!(
                ctx.out,
                "{g}CoreDNS{off} is running at {y}{base}/api/v1/namespaces/kube-system/services/kube-dns{port_name}/proxy{off}"
            );
        }
    }
    let _ = writeln!(
        ctx.out,
        "\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'."
    );
    Ok(())
}

fn api_resources(ctx: &mut Ctx, a: &Args) -> R {
    let mut rows: Vec<&Resource> = RESOURCES.iter().collect();
    rows.sort_by(|x, y| (x.group, x.plural).cmp(&(y.group, y.plural)));
    if let Some(g) = a.get("api-group") {
        rows.retain(|r| r.group == g);
    }
    if let Some(n) = a.get("namespaced") {
        let want = n != "false";
        rows.retain(|r| r.namespaced == want);
    }
    let mut text = String::new();
    if a.get("output") == Some("name") {
        for r in rows {
            let _ = writeln!(ctx.out, "{}", r.qualified_plural());
        }
        return Ok(());
    }
    if !a.bool("no-headers") {
        text.push_str("NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND\n");
    }
    for r in rows {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            r.plural,
            r.short_names.join(","),
            r.api_version(),
            r.namespaced,
            r.kind
        ));
    }
    let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
    Ok(())
}

fn kubeconfig_path(flag: Option<&str>) -> Option<std::path::PathBuf> {
    if let Some(f) = flag {
        return Some(f.into());
    }
    if let Ok(k) = std::env::var("KUBECONFIG") {
        if let Some(first) = k.split(':').find(|p| !p.is_empty()) {
            return Some(first.into());
        }
    }
    std::env::var("HOME")
        .ok()
        .map(|h| std::path::Path::new(&h).join(".kube/config"))
}

/// The namespace of the current kubeconfig context (`config set-context --current --namespace`).
pub fn context_namespace(kubeconfig: Option<&str>) -> Option<String> {
    let text = std::fs::read_to_string(kubeconfig_path(kubeconfig)?).ok()?;
    let v: Value = serde_yaml_ng::from_str(&text).ok()?;
    let cur = v.get("current-context")?.as_str()?;
    v.get("contexts")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(cur))?
        .pointer("/context/namespace")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn kubeconfig(ctx: &Ctx, namespace: Option<&str>) -> Value {
    let mut context = json!({"cluster": "kplab", "user": "kplab-admin"});
    if let Some(ns) = namespace {
        context["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"server": ctx.client.base_url()}, "name": "kplab"}],
        "contexts": [{"context": context, "name": "kplab-admin@kplab"}],
        "current-context": "kplab-admin@kplab",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": "kplab-admin", "user": {}}]
    })
}

fn config(ctx: &mut Ctx, a: &Args) -> R {
    let ns = context_namespace(a.get("kubeconfig"));
    match a.pos.get(1).map(String::as_str) {
        Some("view") => {
            let v = kubeconfig(ctx, ns.as_deref());
            let text = match a.get("output") {
                Some("json") => output::go_json_indent(&v),
                _ => output::go_yaml(&v),
            };
            let _ = write!(ctx.out, "{text}");
            Ok(())
        }
        Some("current-context") => {
            let _ = writeln!(ctx.out, "kplab-admin@kplab");
            Ok(())
        }
        Some("get-contexts") => {
            let text = format!(
                "CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE\n*\tkplab-admin@kplab\tkplab\tkplab-admin\t{}\n",
                ns.unwrap_or_default()
            );
            let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
            Ok(())
        }
        Some("set-context") => {
            let current = a.bool("current") || a.pos.get(2).map(String::as_str) == Some("kplab-admin@kplab");
            if !current {
                return Err(Fail::Msg("kplab has one context: use kubectl config set-context --current --namespace=NS".into()));
            }
            let ns = a.get("namespace").map(String::from).or(ns);
            let path = kubeconfig_path(a.get("kubeconfig")).ok_or_else(|| Fail::Msg("cannot find a kubeconfig path: HOME is not set".into()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Fail::Msg(format!("creating {}: {e}", dir.display())))?;
            }
            let v = kubeconfig(ctx, ns.as_deref());
            std::fs::write(&path, output::go_yaml(&v)).map_err(|e| Fail::Msg(format!("writing {}: {e}", path.display())))?;
            let _ = writeln!(ctx.out, "Context \"kplab-admin@kplab\" modified.");
            Ok(())
        }
        Some(other) => Err(Fail::Raw(format!("error: unknown command \"{other}\" for \"kubectl config\"\nkplab supports: view, current-context, get-contexts, set-context --current --namespace=NS"))),
        None => {
            let _ = writeln!(ctx.out, "Modify kubeconfig files.\n\nAvailable Commands:\n  current-context   Display the current-context\n  get-contexts      Describe one or many contexts\n  set-context       Set a context entry in kubeconfig (--current --namespace=NS)\n  view              Display merged kubeconfig settings");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_from_images() {
        assert_eq!(container_name_from_image("nginx"), "nginx");
        assert_eq!(
            container_name_from_image("registry.k8s.io/coredns/coredns:v1.11.3"),
            "coredns"
        );
        assert_eq!(container_name_from_image("my_app@sha256:abc"), "my-app");
        assert_eq!(container_name_from_image("localhost:5000/web:1"), "web");
    }

    #[test]
    fn apply_patch_ignores_server_defaults() {
        let new = json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}});
        let live = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "selector": {"app": "web"}, "clusterIP": "10.96.0.9"}});
        assert_eq!(apply_patch(Some(&new), &new, &live), json!({}));
        let newer = json!({"spec": {"ports": [{"port": 81}]}});
        assert_eq!(
            apply_patch(Some(&new), &newer, &live),
            json!({"spec": {"ports": [{"port": 81}], "selector": null}})
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"spec": {"ports": [{"port": 80}], "type": "ClusterIP"}});
        json_patch(
            &mut d,
            &json!([
                {"op": "replace", "path": "/spec/type", "value": "NodePort"},
                {"op": "add", "path": "/spec/ports/-", "value": {"port": 81}},
                {"op": "remove", "path": "/spec/ports/0"}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"spec": {"ports": [{"port": 81}], "type": "NodePort"}})
        );
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/spec/nope"}])).is_err());
    }
}

#[cfg(test)]
mod rollout_tests {
    use crate::apiserver::embedded::EmbeddedServer;
    use crate::apiserver::Config;
    use crate::kube::client::{ApiClient, Resource};
    use serde_json::json;

    fn kubectl(
        server: &EmbeddedServer,
        dir: &std::path::Path,
        args: &[&str],
    ) -> (u8, String, String) {
        let mut argv = vec!["kubectl".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        argv.push(format!("--server={}", server.url()));
        argv.push(format!("--kubeconfig={}", dir.join("kubeconfig").display()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = crate::kubectl::run(&argv, &mut "".as_bytes(), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn rollout_status_waits_for_available_replicas() {
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedServer::start(dir.path(), Config::default()).unwrap();
        let d = dir.path();
        let (code, _, err) = kubectl(
            &server,
            d,
            &[
                "create",
                "deployment",
                "web",
                "--image=kplab/echo",
                "--replicas=2",
            ],
        );
        assert_eq!(code, 0, "{err}");

        // No controller runs here: the spec change is not observed yet.
        let (code, out, _) = kubectl(
            &server,
            d,
            &["rollout", "status", "deployment/web", "--watch=false"],
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "Waiting for deployment spec update to be observed...\n")
        );
        let (code, _, err) = kubectl(
            &server,
            d,
            &["rollout", "status", "deploy/web", "--timeout=500ms"],
        );
        assert_eq!(code, 1);
        assert!(err.contains("timed out waiting for the condition"), "{err}");

        // Status as the deployment controller writes it: 1 of 2 available.
        let client = ApiClient::new(server.url());
        let deploy = Resource::resolve("deployments").unwrap();
        let generation =
            client.get(deploy, Some("default"), "web").unwrap()["metadata"]["generation"].clone();
        let status = |available: i64| json!({"status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "readyReplicas": available, "availableReplicas": available}});
        client
            .patch_status(deploy, Some("default"), "web", &status(1))
            .unwrap();
        let (code, out, _) = kubectl(
            &server,
            d,
            &["rollout", "status", "deployment", "web", "--watch=false"],
        );
        assert_eq!(code, 0);
        assert_eq!(out, "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\n");

        // The second replica becomes available while kubectl watches.
        let url = server.url().to_string();
        let later = status(2);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(400));
            let deploy = Resource::resolve("deployments").unwrap();
            ApiClient::new(&url)
                .patch_status(deploy, Some("default"), "web", &later)
                .unwrap();
        });
        let (code, out, err) = kubectl(
            &server,
            d,
            &["rollout", "status", "deployment/web", "--timeout=60s"],
        );
        t.join().unwrap();
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\n\
             deployment \"web\" successfully rolled out\n"
        );

        let (code, _, err) = kubectl(&server, d, &["rollout", "status", "svc/kubernetes"]);
        assert_eq!(code, 1);
        assert!(
            err.contains("no status viewer has been implemented for Service"),
            "{err}"
        );
        let (code, _, err) = kubectl(&server, d, &["rollout", "undo", "deployment/web"]);
        assert_eq!(code, 1);
        assert!(
            err.contains("unknown command \"undo\" for \"kubectl rollout\""),
            "{err}"
        );
    }
}

/// Property tests (issue 13): `--timeout` is typed by the learner. Any value gives a duration
/// or Go's error, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, duration_text, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_commands.txt";

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_timeout_parses_or_is_refused(t in duration_text()) {
            match parse_go_duration(&t) {
                Ok(_) => {}
                Err(Fail::Msg(m)) => {
                    prop_assert!(m.starts_with(&format!("invalid argument \"{t}\" for \"--timeout\" flag: time: ")), "{}", m);
                }
                Err(_) => prop_assert!(false, "not a message"),
            }
        }
    }

    // Regression tests: every value a property above ever failed on, by name.

    /// Found by `any_timeout_parses_or_is_refused`: `Duration::from_secs_f64` panicked on a
    /// number of seconds a Duration cannot hold.
    #[test]
    fn regression_timeout_too_big_is_refused() {
        for t in [
            "99999999999999999999s",
            "18446744073709551616s",
            "9999999999999999h",
        ] {
            match parse_go_duration(t) {
                Err(Fail::Msg(m)) => assert_eq!(
                    m,
                    format!("invalid argument \"{t}\" for \"--timeout\" flag: time: invalid duration \"{t}\"")
                ),
                Err(_) => panic!("not a message"),
                Ok(d) => panic!("{t} gave {d:?}"),
            }
        }
    }
}
