//! The nftables view of a node: kube-proxy's `table ip kube-proxy` (and `ip6`) as
//! `nft -j list table` prints it, turned into the same chain graph the iptables view draws
//! ([`graph::ChainView`], [`graph::Edge`]), plus its sets and maps with their elements. Pure.
//!
//! Base chains carry their hook and priority; rules keep their order, handle and counter (when
//! the rule has one); `jump`/`goto` statements are edges, and so are verdict maps: a rule that
//! looks a packet up in a named map (`vmap @service-ips`) points at the map, drawn as a node
//! of kind `map` whose "rules" are its elements, and each element points at the chain its
//! verdict jumps or goes to. Anonymous verdict maps (`numgen … vmap { 0 : goto … }`) point
//! straight at their chains.
//!
//! The learner is root in the node and can load any table, or put any program in place of
//! `nft`: the text is bounded ([`MAX_JSON_BYTES`]), objects and elements are counted
//! ([`MAX_OBJECTS`], [`MAX_ELEMENTS`]), rule texts are cut ([`MAX_TEXT`]), nesting is bounded by
//! `serde_json` (128 levels) and by the renderer ([`MAX_DEPTH`]), and anything of the wrong
//! shape is skipped and counted in `notes`, never a panic.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::graph::{ChainView, Edge, RuleView, ServiceGroup};

/// The most `nft -j` output read (bytes).
pub const MAX_JSON_BYTES: usize = 8 << 20;
/// The most table objects (chains, sets, maps, rules) read from one table.
pub const MAX_OBJECTS: usize = 20_000;
/// The most set and map elements kept, over all sets.
pub const MAX_ELEMENTS: usize = 20_000;
/// The most characters of one rule's or element's text.
pub const MAX_TEXT: usize = 600;
/// The deepest expression the renderer follows.
pub const MAX_DEPTH: usize = 24;

/// The command that lists kube-proxy's tables, both families, separated by [`FAMILY_MARK`].
pub const LIST_ARGV: &[&str] = &[
    "sh",
    "-c",
    "nft -j list table ip kube-proxy 2>/dev/null; echo; echo '#kplab-ip6'; nft -j list table ip6 kube-proxy 2>/dev/null; true",
];
/// The line between the `ip` and the `ip6` document in [`LIST_ARGV`]'s output.
pub const FAMILY_MARK: &str = "#kplab-ip6";

/// A set or map element.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ElemView {
    /// The key (`10.96.0.1 . tcp . 80`).
    pub key: String,
    /// The value of a map element (`goto service-…`, an address).
    pub value: Option<String>,
    /// The element's comment (kube-proxy names the Service there).
    pub comment: Option<String>,
}

/// A named set or map.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SetView {
    /// Name.
    pub name: String,
    /// `set` or `map`.
    pub kind: String,
    /// Key type (`ipv4_addr . inet_proto . inet_service`).
    pub key_type: String,
    /// Value type of a map (`verdict` for a verdict map).
    pub value_type: Option<String>,
    /// Flags (`interval`, `timeout`, …).
    pub flags: Vec<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Elements (at most what [`MAX_ELEMENTS`] leaves).
    pub elements: Vec<ElemView>,
    /// Elements left out by the bound.
    pub elements_omitted: usize,
    /// Chains with a rule that reads it (`kube-proxy:services`).
    pub used_by: Vec<String>,
}

/// One kube-proxy table.
#[derive(Debug, Clone, Serialize)]
pub struct NftTable {
    /// `ip` or `ip6`.
    pub family: String,
    /// `kube-proxy`.
    pub name: String,
    /// What chain ids start with (`kube-proxy`, `ip6 kube-proxy`), so that a kernel trace hop
    /// `{table}:{chain}` names a chain of this view.
    pub prefix: String,
    /// Chains (base chains first, in the order nft lists them), then verdict maps as nodes.
    pub chains: Vec<ChainView>,
    /// Jumps, gotos, rule -> map and map element -> chain.
    pub edges: Vec<Edge>,
    /// Named sets and maps with their elements.
    pub sets: Vec<SetView>,
    /// Services named by the chains, with their endpoints (from the DNAT maps).
    pub services: Vec<ServiceGroup>,
    /// A hash of the table without counters.
    pub hash: String,
    /// Whether any rule has a counter.
    pub counters: bool,
    /// What was skipped or cut, in words.
    pub notes: Vec<String>,
}

/// What `nft -j` output did not allow: a sentence for the learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftError(pub String);

impl std::fmt::Display for NftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Splits [`LIST_ARGV`]'s output into the `ip` and `ip6` documents (empty when absent).
pub fn split_families(out: &str) -> (&str, &str) {
    match out.find(FAMILY_MARK) {
        Some(i) => (out[..i].trim(), out[i + FAMILY_MARK.len()..].trim()),
        None => (out.trim(), ""),
    }
}

/// Parses [`LIST_ARGV`]'s output: the tables found (none on a node in iptables mode).
pub fn parse_list(out: &str, pods: &BTreeMap<String, String>) -> Result<Vec<NftTable>, NftError> {
    if out.len() > 2 * MAX_JSON_BYTES {
        return Err(too_big(out.len()));
    }
    let (v4, v6) = split_families(out);
    let mut tables = Vec::new();
    for doc in [v4, v6] {
        if !doc.is_empty() {
            tables.push(parse(doc, pods)?);
        }
    }
    Ok(tables)
}

fn too_big(n: usize) -> NftError {
    NftError(format!(
        "the nftables table is too big to draw ({} KiB of `nft -j` output; the panel reads at most {} KiB)",
        n / 1024,
        MAX_JSON_BYTES / 1024
    ))
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(cut)
}

/// Parses one `nft -j list table` document.
pub fn parse(json: &str, pods: &BTreeMap<String, String>) -> Result<NftTable, NftError> {
    if json.len() > MAX_JSON_BYTES {
        return Err(too_big(json.len()));
    }
    let v: Value = serde_json::from_str(json).map_err(|e| {
        NftError(format!(
            "`nft -j list table` printed something that is not JSON ({e}); was nft replaced in the node?"
        ))
    })?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            NftError(
                "`nft -j list table` printed JSON without an \"nftables\" list; was nft replaced in the node?"
                    .into(),
            )
        })?;
    let mut notes = Vec::new();
    let mut skipped = 0usize;
    let (mut family, mut name) = (None::<String>, None::<String>);
    // name -> (chain object, rules)
    let mut chain_order: Vec<String> = Vec::new();
    let mut chain_obj: BTreeMap<String, &Value> = BTreeMap::new();
    let mut rules: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut set_objs: Vec<(&str, &Value)> = Vec::new();
    if items.len() > MAX_OBJECTS {
        notes.push(format!(
            "the table has {} objects; the first {MAX_OBJECTS} are drawn",
            items.len()
        ));
    }
    for item in items.iter().take(MAX_OBJECTS) {
        let Some(obj) = item.as_object().filter(|o| o.len() == 1) else {
            skipped += 1;
            continue;
        };
        let Some((kind, body)) = obj.iter().next() else {
            continue;
        };
        if !body.is_object() {
            skipped += 1;
            continue;
        }
        match kind.as_str() {
            "metainfo" => {}
            "table" => {
                family = str_of(body, "family");
                name = str_of(body, "name");
            }
            "chain" => match str_of(body, "name") {
                Some(n) if !chain_obj.contains_key(&n) => {
                    chain_order.push(n.clone());
                    chain_obj.insert(n, body);
                }
                _ => skipped += 1,
            },
            "rule" => match str_of(body, "chain") {
                Some(c) => rules.entry(c).or_default().push(body),
                None => skipped += 1,
            },
            "set" | "map" => set_objs.push((kind.as_str(), body)),
            // Flowtables, counters, quotas, ct helpers: kube-proxy makes none; not drawn.
            _ => skipped += 1,
        }
    }
    let family = family.unwrap_or_else(|| "ip".into());
    let name = name.unwrap_or_else(|| "kube-proxy".into());
    let prefix = if family == "ip" {
        name.clone()
    } else {
        format!("{family} {name}")
    };
    let id = |chain: &str| format!("{prefix}:{chain}");
    let map_id = |map: &str| format!("{prefix}:@{map}");

    // Sets and maps, with a budget of elements over all of them.
    let mut budget = MAX_ELEMENTS;
    let mut sets: Vec<SetView> = Vec::new();
    for (kind, body) in &set_objs {
        let Some(n) = str_of(body, "name") else {
            skipped += 1;
            continue;
        };
        let value_type = body.get("map").map(type_text);
        let elems = body.get("elem").and_then(Value::as_array);
        let total = elems.map_or(0, Vec::len);
        let mut elements = Vec::new();
        for e in elems.into_iter().flatten().take(budget) {
            elements.push(elem_view(e));
        }
        budget -= elements.len();
        sets.push(SetView {
            name: n,
            kind: (*kind).to_string(),
            key_type: body.get("type").map(type_text).unwrap_or_default(),
            value_type,
            flags: body
                .get("flags")
                .map(|f| match f {
                    Value::Array(a) => a.iter().take(8).map(|x| cut(&text(x, 0))).collect(),
                    other => vec![cut(&text(other, 0))],
                })
                .unwrap_or_default(),
            comment: str_of(body, "comment"),
            elements_omitted: total - elements.len().min(total),
            elements,
            used_by: Vec::new(),
        });
    }
    if sets.iter().any(|s| s.elements_omitted > 0) {
        notes.push(format!(
            "the sets and maps hold more than {MAX_ELEMENTS} elements; the rest are left out"
        ));
    }
    let set_names: HashSet<String> = sets.iter().map(|s| s.name.clone()).collect();
    let chain_names: HashSet<&str> = chain_order.iter().map(String::as_str).collect();
    for c in rules.keys() {
        if !chain_names.contains(c.as_str()) {
            skipped += 1;
        }
    }

    // Chains: base chains first (the hooks), then the rest, each in nft's order.
    let mut order: Vec<&String> = chain_order
        .iter()
        .filter(|c| chain_obj[*c].get("hook").is_some())
        .collect();
    order.extend(
        chain_order
            .iter()
            .filter(|c| chain_obj[*c].get("hook").is_none()),
    );
    let mut chains = Vec::new();
    let mut edges = Vec::new();
    let mut counters = false;
    let mut used_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut hash = Fnv::new();
    let mut endpoints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cname in order {
        let body = chain_obj[cname];
        let cid = id(cname);
        hash.write(cname.as_bytes());
        let hook = body.get("hook").map(|h| {
            format!(
                "{} hook {} priority {}",
                body.get("type").map(|t| text(t, 0)).unwrap_or_default(),
                text(h, 0),
                body.get("prio").map(|p| text(p, 0)).unwrap_or_default()
            )
        });
        let mut views = Vec::new();
        let mut packets = 0u64;
        for (i, r) in rules.get(cname).into_iter().flatten().enumerate() {
            let stmts: &[Value] = r.get("expr").and_then(Value::as_array).map_or(&[], |v| v);
            let mut parts = Vec::new();
            let (mut p, mut b, mut has_counter) = (0u64, 0u64, false);
            let mut target: Option<String> = None;
            let mut refs = Refs::default();
            for s in stmts.iter().take(64) {
                if let Some(c) = s.get("counter") {
                    has_counter = true;
                    p = p.saturating_add(c.get("packets").and_then(Value::as_u64).unwrap_or(0));
                    b = b.saturating_add(c.get("bytes").and_then(Value::as_u64).unwrap_or(0));
                    parts.push("counter".to_string());
                    continue;
                }
                refs.collect(s, 0);
                parts.push(text(s, 0));
                if target.is_none() {
                    target = verdict_word(s);
                }
            }
            let mut txt = parts.join(" ");
            if let Some(c) = str_of(r, "comment") {
                txt.push_str(&format!(" comment {c:?}"));
            }
            let txt = cut(&txt);
            hash.write(txt.as_bytes());
            counters |= has_counter;
            packets = packets.saturating_add(p);
            for (t, goto) in &refs.chains {
                if chain_names.contains(t.as_str()) {
                    edges.push(Edge {
                        from: cid.clone(),
                        to: id(t),
                        rule: i + 1,
                        goto: *goto,
                    });
                }
            }
            for m in &refs.sets {
                if set_names.contains(m) {
                    used_by.entry(m.clone()).or_default().insert(cid.clone());
                }
            }
            if !refs.dnat.is_empty() {
                endpoints
                    .entry(cname.clone())
                    .or_default()
                    .extend(refs.dnat.iter().cloned());
            }
            views.push(RuleView {
                index: i + 1,
                text: txt,
                target,
                packets: p,
                bytes: b,
                comment: str_of(r, "comment"),
                probability: None,
                handle: r.get("handle").and_then(Value::as_u64),
                counter: Some(has_counter),
            });
        }
        let kind = chain_kind(cname, hook.is_some());
        let service = chain_service(cname);
        let eps = endpoints.get(cname).cloned().unwrap_or_default();
        let endpoint = chain_endpoint(cname);
        let pod = endpoint
            .as_deref()
            .and_then(|e| e.rsplit_once(':').map(|(ip, _)| ip))
            .and_then(|ip| pods.get(ip).cloned());
        let label = match (kind, &service, &endpoint, &pod) {
            ("sep", _, Some(e), Some(p)) => {
                format!("{} ({e})", p.rsplit('/').next().unwrap_or(p))
            }
            ("sep", _, Some(e), None) => e.clone(),
            ("svc", Some(s), ..) => format!("service {s}{}", share_label(eps.len())),
            ("ext", Some(s), ..) => format!("external {s}"),
            ("fw", Some(s), ..) => format!("firewall {s}"),
            _ => cname.clone(),
        };
        chains.push(ChainView {
            id: cid,
            table: prefix.clone(),
            name: cname.clone(),
            kind: kind.into(),
            service,
            endpoint,
            pod,
            policy: None,
            label,
            chain_policy: body.get("policy").map(|p| text(p, 0)),
            packets,
            rules: views,
            hook,
        });
    }
    // Verdict maps become nodes: rule -> map, element -> chain.
    for s in &mut sets {
        s.used_by = used_by
            .get(&s.name)
            .map(|u| u.iter().cloned().collect())
            .unwrap_or_default();
        if s.value_type.as_deref() != Some("verdict") {
            for e in &s.elements {
                hash.write(e.key.as_bytes());
            }
            continue;
        }
        let mid = map_id(&s.name);
        for u in &s.used_by {
            // The rule that reads it.
            let rule = chains
                .iter()
                .find(|c| &c.id == u)
                .and_then(|c| {
                    c.rules
                        .iter()
                        .find(|r| r.text.contains(&format!("@{}", s.name)))
                })
                .map_or(1, |r| r.index);
            edges.push(Edge {
                from: u.clone(),
                to: mid.clone(),
                rule,
                goto: false,
            });
        }
        let mut rules = Vec::new();
        for (i, e) in s.elements.iter().enumerate() {
            let v = e.value.clone().unwrap_or_default();
            hash.write(e.key.as_bytes());
            hash.write(v.as_bytes());
            let (verb, t) = v.split_once(' ').unwrap_or((v.as_str(), ""));
            if (verb == "jump" || verb == "goto") && chain_names.contains(t) {
                edges.push(Edge {
                    from: mid.clone(),
                    to: id(t),
                    rule: i + 1,
                    goto: verb == "goto",
                });
            }
            rules.push(RuleView {
                index: i + 1,
                text: cut(&format!(
                    "{} : {v}{}",
                    e.key,
                    e.comment
                        .as_deref()
                        .map(|c| format!(" comment {c:?}"))
                        .unwrap_or_default()
                )),
                target: (!t.is_empty()).then(|| t.to_string()),
                packets: 0,
                bytes: 0,
                comment: e.comment.clone(),
                probability: None,
                handle: None,
                counter: Some(false),
            });
        }
        chains.push(ChainView {
            id: mid,
            table: prefix.clone(),
            name: format!("@{}", s.name),
            kind: "map".into(),
            service: None,
            endpoint: None,
            pod: None,
            policy: None,
            label: format!("map @{} ({})", s.name, s.elements.len()),
            chain_policy: None,
            packets: 0,
            rules,
            hook: None,
        });
    }
    // Services: chains named after them, endpoints from their DNAT maps or endpoint chains.
    let mut groups: BTreeMap<String, ServiceGroup> = BTreeMap::new();
    for c in &chains {
        let Some(s) = &c.service else { continue };
        let g = groups.entry(s.clone()).or_insert_with(|| ServiceGroup {
            name: s.clone(),
            chains: Vec::new(),
            endpoints: Vec::new(),
        });
        g.chains.push(c.id.clone());
        let mut eps: Vec<String> = endpoints.get(&c.name).cloned().unwrap_or_default();
        eps.extend(c.endpoint.clone());
        for e in eps {
            if !g.endpoints.iter().any(|(x, _)| *x == e) {
                let pod = e.rsplit_once(':').and_then(|(ip, _)| pods.get(ip).cloned());
                g.endpoints.push((e, pod));
            }
        }
    }
    if skipped > 0 {
        notes.push(format!(
            "{skipped} objects of an unexpected shape were left out"
        ));
    }
    Ok(NftTable {
        family,
        name,
        prefix,
        chains,
        edges,
        sets,
        services: groups.into_values().collect(),
        hash: format!("{:016x}", hash.0),
        counters,
        notes,
    })
}

fn share_label(n: usize) -> String {
    if n > 1 {
        format!(" (1/{n} each)")
    } else {
        String::new()
    }
}

/// Chain kinds, in the iptables view's words where they mean the same.
fn chain_kind(name: &str, base: bool) -> &'static str {
    if base {
        return "hook";
    }
    match name {
        "services" => "services",
        "masquerading" => "postrouting",
        "mark-for-masquerade" => "mark",
        _ if name.starts_with("service-") && name.contains('/') => "svc",
        _ if name.starts_with("external-") => "ext",
        _ if name.starts_with("endpoint-") => "sep",
        _ if name.starts_with("firewall-") && name.contains('/') => "fw",
        _ => "kube",
    }
}

/// `service-HASH-ns/name/tcp/portname` -> `ns/name:portname` (`ns/name` without a port name).
pub fn chain_service(name: &str) -> Option<String> {
    let rest = ["service-", "external-", "endpoint-", "firewall-"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let (_, rest) = rest.split_once('-')?;
    let rest = rest.split("__").next()?;
    let mut it = rest.split('/');
    let (ns, svc, _proto, port) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if ns.is_empty() || svc.is_empty() {
        return None;
    }
    Some(if port.is_empty() {
        format!("{ns}/{svc}")
    } else {
        format!("{ns}/{svc}:{port}")
    })
}

/// `endpoint-HASH-ns/name/tcp/p__10.180.0.1/80` -> `10.180.0.1:80`.
pub fn chain_endpoint(name: &str) -> Option<String> {
    let rest = name.strip_prefix("endpoint-")?;
    let (_, ep) = rest.split_once("__")?;
    let (ip, port) = ep.rsplit_once('/')?;
    Some(format!("{ip}:{port}"))
}

/// What a rule refers to: chains (with goto), named sets, DNAT destinations.
#[derive(Default)]
struct Refs {
    chains: Vec<(String, bool)>,
    sets: BTreeSet<String>,
    dnat: Vec<String>,
}

impl Refs {
    fn collect(&mut self, v: &Value, depth: usize) {
        if depth > MAX_DEPTH || self.chains.len() > 256 {
            return;
        }
        match v {
            Value::String(s) => {
                if let Some(n) = s.strip_prefix('@') {
                    self.sets.insert(cut(n));
                }
            }
            Value::Array(a) => a.iter().take(256).for_each(|x| self.collect(x, depth + 1)),
            Value::Object(o) => {
                for (k, x) in o.iter().take(16) {
                    match (k.as_str(), x.get("target").and_then(Value::as_str)) {
                        ("jump", Some(t)) => self.chains.push((cut(t), false)),
                        ("goto", Some(t)) => self.chains.push((cut(t), true)),
                        ("dnat", _) => self.dnat_of(x, depth),
                        _ => self.collect(x, depth + 1),
                    }
                }
            }
            _ => {}
        }
    }

    /// `dnat to ADDR:PORT` or `dnat ip addr . port to numgen … map { 0 : ADDR . PORT, … }`.
    fn dnat_of(&mut self, d: &Value, depth: usize) {
        let addr = d.get("addr");
        if let Some(Value::String(a)) = addr {
            let port = d.get("port").map(|p| text(p, depth + 1));
            self.dnat.push(cut(&match port {
                Some(p) => format!("{a}:{p}"),
                None => a.clone(),
            }));
            return;
        }
        let data = addr
            .and_then(|a| a.get("map"))
            .and_then(|m| m.get("data"))
            .and_then(|d| d.get("set"))
            .and_then(Value::as_array);
        for pair in data.into_iter().flatten().take(1024) {
            if let Some(c) = pair
                .get(1)
                .and_then(|v| v.get("concat"))
                .and_then(Value::as_array)
            {
                if let (Some(ip), Some(port)) = (c.first(), c.get(1)) {
                    self.dnat
                        .push(cut(&format!("{}:{}", text(ip, 0), text(port, 0))));
                }
            }
        }
    }
}

/// The verdict or action a statement ends a rule with, for [`RuleView::target`].
fn verdict_word(s: &Value) -> Option<String> {
    let o = s.as_object()?;
    let (k, v) = o.iter().next()?;
    match k.as_str() {
        "jump" | "goto" => v.get("target").and_then(Value::as_str).map(cut),
        "vmap" => Some(match v.get("data") {
            Some(Value::String(m)) => cut(m),
            _ => "vmap".into(),
        }),
        "accept" | "drop" | "return" | "continue" | "reject" | "masquerade" | "dnat" | "snat"
        | "redirect" | "queue" => Some(k.to_ascii_uppercase()),
        _ => None,
    }
}

fn type_text(v: &Value) -> String {
    match v {
        Value::Array(a) => a
            .iter()
            .take(16)
            .map(|x| text(x, 1))
            .collect::<Vec<_>>()
            .join(" . "),
        other => cut(&text(other, 0)),
    }
}

fn elem_view(e: &Value) -> ElemView {
    // Set: KEY or {"elem": {"val": KEY, "comment": …}}; map: [KEY, VALUE].
    let (k, value) = match e {
        Value::Array(a) if a.len() == 2 => (&a[0], Some(cut(&text(&a[1], 0)))),
        other => (other, None),
    };
    let (key, comment) = match k.get("elem") {
        Some(inner) => (
            inner.get("val").map(|x| text(x, 0)).unwrap_or_default(),
            str_of(inner, "comment"),
        ),
        None => (text(k, 0), None),
    };
    ElemView {
        key: cut(&key),
        value,
        comment,
    }
}

/// Renders an expression or statement of nft's JSON in nft's own words (close to what
/// `nft list` prints); what it does not know it prints as compact JSON. Never longer than a
/// few times [`MAX_TEXT`] (the caller cuts).
pub fn text(v: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "…".into();
    }
    let t = |x: &Value| text(x, depth + 1);
    let out = match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let inner: Vec<String> = a.iter().take(64).map(t).collect();
            let more = if a.len() > 64 { ", …" } else { "" };
            format!("{{ {}{more} }}", inner.join(", "))
        }
        Value::Object(o) if o.len() == 1 => {
            let (k, x) = o.iter().next().expect("one entry");
            let f = |key: &str| x.get(key).map(t).unwrap_or_default();
            match k.as_str() {
                "match" => {
                    let op = x.get("op").and_then(Value::as_str).unwrap_or("==");
                    let op = if op == "==" || op == "in" {
                        String::new()
                    } else {
                        format!("{op} ")
                    };
                    format!("{} {op}{}", f("left"), f("right"))
                }
                "payload" => match x.get("protocol") {
                    Some(p) => format!("{} {}", t(p), f("field")),
                    None => format!("@{},{},{}", f("base"), f("offset"), f("len")),
                },
                "meta" => format!("meta {}", f("key")),
                "ct" => format!("ct {}", f("key")),
                "fib" => format!(
                    "fib {} {}",
                    match x.get("flags") {
                        Some(Value::Array(a)) =>
                            a.iter().take(4).map(t).collect::<Vec<_>>().join(" . "),
                        Some(other) => t(other),
                        None => String::new(),
                    },
                    f("result")
                ),
                "concat" => match x {
                    Value::Array(a) => a.iter().take(16).map(t).collect::<Vec<_>>().join(" . "),
                    other => t(other),
                },
                "prefix" => format!("{}/{}", f("addr"), f("len")),
                "range" => match x {
                    Value::Array(a) if a.len() == 2 => format!("{}-{}", t(&a[0]), t(&a[1])),
                    other => t(other),
                },
                "set" => match x {
                    Value::Array(a) => {
                        let inner: Vec<String> = a
                            .iter()
                            .take(64)
                            .map(|e| match e {
                                Value::Array(kv) if kv.len() == 2 => {
                                    format!("{} : {}", t(&kv[0]), t(&kv[1]))
                                }
                                other => t(other),
                            })
                            .collect();
                        let more = if a.len() > 64 { ", …" } else { "" };
                        format!("{{ {}{more} }}", inner.join(", "))
                    }
                    other => t(other),
                },
                "map" => format!("{} map {}", f("key"), f("data")),
                "vmap" => format!("{} vmap {}", f("key"), f("data")),
                "numgen" => format!("numgen {} mod {}", f("mode"), f("mod")),
                "jhash" | "symhash" => format!("{k} mod {}", f("mod")),
                "&" | "|" | "^" | "<<" | ">>" => match x {
                    Value::Array(a) if a.len() == 2 => format!("{} {k} {}", t(&a[0]), t(&a[1])),
                    other => t(other),
                },
                "elem" => f("val"),
                "jump" | "goto" => format!("{k} {}", f("target")),
                "accept" | "drop" | "return" | "continue" => k.clone(),
                "mangle" => format!("{} set {}", f("key"), f("value")),
                "dnat" | "snat" => {
                    let fam = x
                        .get("family")
                        .map(|fm| format!(" {}", t(fm)))
                        .unwrap_or_default();
                    let port = x
                        .get("port")
                        .map(|p| format!(":{}", t(p)))
                        .unwrap_or_default();
                    format!("{k}{fam} to {}{port}", f("addr"))
                }
                "masquerade" | "redirect" => match x.get("flags") {
                    Some(fl) => format!("{k} {}", t(fl)),
                    None => k.clone(),
                },
                "reject" => match x.get("expr") {
                    Some(e) => format!("reject with {} {}", f("type"), t(e)),
                    None => "reject".into(),
                },
                "counter" => "counter".into(),
                "log" => "log".into(),
                "notrack" => "notrack".into(),
                "limit" => format!("limit rate {}/{}", f("rate"), f("per")),
                _ => format!("{k} {}", cut(&serde_json::to_string(x).unwrap_or_default())),
            }
        }
        Value::Object(_) => cut(&serde_json::to_string(v).unwrap_or_default()),
    };
    if out.len() > 4 * MAX_TEXT {
        cut(&out)
    } else {
        out
    }
}

/// FNV-1a, as [`super::graph::rules_hash`] uses.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x100_0000_01b3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nft -j list table ip kube-proxy` in the node image (nft 1.0.6) after loading what
    /// `kplab-agent kube-proxy render --proxy-mode=nftables` printed for
    /// `testdata/nft_kube_proxy_objects.yaml` (`testdata/nft_kube_proxy.nft`).
    const REAL: &str = include_str!("testdata/nft_kube_proxy.json");
    /// The same with `counter` added to two rules and one connection to the ClusterIP.
    const COUNTERS: &str = include_str!("testdata/nft_kube_proxy_counters.json");

    fn pods() -> BTreeMap<String, String> {
        [("10.244.2.1", "default/web-b")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_real_table_is_drawn_with_hooks_maps_and_edges() {
        let t = parse(REAL, &pods()).unwrap();
        assert_eq!((t.family.as_str(), t.prefix.as_str()), ("ip", "kube-proxy"));
        assert!(t.notes.is_empty(), "{:?}", t.notes);
        // Base chains first, with hook and priority.
        let first = &t.chains[0];
        assert_eq!(first.kind, "hook");
        let natpre = t
            .chains
            .iter()
            .find(|c| c.name == "nat-prerouting")
            .unwrap();
        assert_eq!(
            natpre.hook.as_deref(),
            Some("nat hook prerouting priority -100")
        );
        assert_eq!(natpre.rules[0].text, "jump services");
        let services = t.chains.iter().find(|c| c.name == "services").unwrap();
        assert_eq!(services.kind, "services");
        let texts: Vec<&str> = services.rules.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "ip daddr @cluster-ips ip saddr != 10.244.0.0/16 meta mark set meta mark | 16384 comment \"masquerade clusterIP traffic from outside cluster\"",
                "ip daddr . meta l4proto . th dport vmap @service-ips",
                "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
            ]
        );
        assert!(services.rules[1].handle.is_some());
        // Jump edge, rule -> map, map element -> chain (goto).
        let has = |from: &str, to: &str, goto: bool| {
            t.edges
                .iter()
                .any(|e| e.from == from && e.to == to && e.goto == goto)
        };
        assert!(has(
            "kube-proxy:nat-prerouting",
            "kube-proxy:services",
            false
        ));
        assert!(has("kube-proxy:services", "kube-proxy:@service-ips", false));
        assert!(has(
            "kube-proxy:@service-ips",
            "kube-proxy:service-SUSTUHLJ-default/web/tcp/http",
            true
        ));
        assert!(has(
            "kube-proxy:@no-endpoint-services",
            "kube-proxy:reject-chain",
            true
        ));
        assert!(has(
            "kube-proxy:external-SUSTUHLJ-default/web/tcp/http",
            "kube-proxy:service-SUSTUHLJ-default/web/tcp/http",
            true
        ));
        // Maps and sets with their elements.
        let m = t.sets.iter().find(|s| s.name == "service-ips").unwrap();
        assert_eq!(m.kind, "map");
        assert_eq!(m.key_type, "ipv4_addr . inet_proto . inet_service");
        assert_eq!(m.value_type.as_deref(), Some("verdict"));
        assert_eq!(m.elements[0].key, "10.96.5.5 . tcp . 80");
        assert_eq!(
            m.elements[0].value.as_deref(),
            Some("goto service-SUSTUHLJ-default/web/tcp/http")
        );
        assert_eq!(m.used_by, ["kube-proxy:services"]);
        let ne = t
            .sets
            .iter()
            .find(|s| s.name == "no-endpoint-services")
            .unwrap();
        assert_eq!(ne.elements[0].comment.as_deref(), Some("default/empty"));
        let ips = t.sets.iter().find(|s| s.name == "cluster-ips").unwrap();
        assert_eq!(ips.kind, "set");
        assert_eq!(ips.elements.len(), 2);
        assert!(ips.elements[0].value.is_none());
        // The Service, its endpoints from the DNAT map, named by pod.
        let svc = t
            .chains
            .iter()
            .find(|c| c.name == "service-SUSTUHLJ-default/web/tcp/http")
            .unwrap();
        assert_eq!(svc.kind, "svc");
        assert_eq!(svc.service.as_deref(), Some("default/web:http"));
        assert_eq!(svc.label, "service default/web:http (1/3 each)");
        assert!(svc.rules[0].text.contains("numgen random mod 3 map"));
        let g = &t.services[0];
        assert_eq!(g.name, "default/web:http");
        assert_eq!(g.endpoints.len(), 3);
        assert_eq!(
            g.endpoints[1],
            ("10.244.2.1:80".into(), Some("default/web-b".into()))
        );
        assert!(!t.counters);
    }

    #[test]
    fn counters_are_read_and_the_hash_ignores_them() {
        let a = parse(REAL, &pods()).unwrap();
        let b = parse(COUNTERS, &pods()).unwrap();
        assert!(b.counters);
        let services = b.chains.iter().find(|c| c.name == "services").unwrap();
        let r = &services.rules[1];
        assert_eq!((r.packets, r.bytes, r.counter), (1, 60, Some(true)));
        assert!(r.text.starts_with("counter ip daddr"), "{}", r.text);
        assert_eq!(services.packets, 1);
        // Same rules apart from the counters: the hash changes only with the rules.
        let more = COUNTERS.replace("\"packets\": 1,", "\"packets\": 7,");
        assert_ne!(more, COUNTERS);
        assert_eq!(b.hash, parse(&more, &pods()).unwrap().hash);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn names_of_chains_name_services_and_endpoints() {
        assert_eq!(
            chain_service("service-ULMVA6XW-ns1/svc1/tcp/p80").as_deref(),
            Some("ns1/svc1:p80")
        );
        assert_eq!(
            chain_service("service-ULMVA6XW-ns1/svc1/tcp/").as_deref(),
            Some("ns1/svc1")
        );
        assert_eq!(chain_service("services"), None);
        assert_eq!(chain_service("service-endpoints-check"), None);
        assert_eq!(
            chain_endpoint("endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80").as_deref(),
            Some("10.180.0.1:80")
        );
    }

    #[test]
    fn both_families_and_none() {
        let out = format!("{}\n\n#kplab-ip6\n", REAL.trim());
        assert_eq!(parse_list(&out, &pods()).unwrap().len(), 1);
        assert!(parse_list("\n#kplab-ip6\n", &pods()).unwrap().is_empty());
        let v6 = REAL.replace("\"family\": \"ip\"", "\"family\": \"ip6\"");
        let both = format!("{REAL}\n#kplab-ip6\n{v6}");
        let t = parse_list(&both, &pods()).unwrap();
        assert_eq!(t[1].prefix, "ip6 kube-proxy");
        assert!(t[1]
            .chains
            .iter()
            .all(|c| c.id.starts_with("ip6 kube-proxy:")));
    }

    #[test]
    fn hostile_output_is_refused_or_bounded_never_a_panic() {
        // Not JSON, wrong shape, wrong types.
        for bad in [
            "garbage",
            "[1,2]",
            "{\"nftables\": 5}",
            "{}",
            "null",
            "\"x\"",
        ] {
            let e = parse(bad, &pods()).unwrap_err();
            assert!(e.0.contains("nft"), "{e}");
        }
        let odd = r#"{"nftables": [1, "x", null, {"chain": 5}, {"rule": {"chain": 7}},
            {"chain": {"name": "c", "hook": {"x": [1]}, "prio": [], "policy": {}}},
            {"rule": {"chain": "c", "expr": 5}},
            {"rule": {"chain": "c", "expr": [1, "s", null, {"jump": 5}, {"goto": {"target": 9}},
                {"match": {"op": 3, "left": [], "right": {"a": 1, "b": 2}}}, {"vmap": {}}]}},
            {"rule": {"chain": "nosuch", "expr": []}},
            {"set": {"name": "s", "elem": "no"}}, {"map": {"name": 3}},
            {"map": {"name": "m", "map": "verdict", "elem": [[1], [{"elem": 5}, {"jump": {"target": "c"}}]]}},
            {"table": {"family": 4}}, {"a": 1, "b": 2}, {"flowtable": {}}]}"#;
        let t = parse(odd, &pods()).unwrap();
        assert!(
            t.notes.iter().any(|n| n.contains("unexpected shape")),
            "{:?}",
            t.notes
        );
        assert!(t
            .edges
            .iter()
            .any(|e| e.from == "kube-proxy:@m" && e.to == "kube-proxy:c"));
        // Deeply nested: serde_json refuses past 128 levels; below that the renderer stops.
        let deep = format!(
            "{{\"nftables\": [{{\"chain\": {{\"name\": \"c\"}}}}, {{\"rule\": {{\"chain\": \"c\", \"expr\": [{}1{}]}}}}]}}",
            "{\"match\": {\"left\": ".repeat(70),
            "}}".repeat(70)
        );
        assert!(parse(&deep, &pods()).is_err());
        let deep = format!(
            "{{\"nftables\": [{{\"chain\": {{\"name\": \"c\"}}}}, {{\"rule\": {{\"chain\": \"c\", \"expr\": [{}1{}]}}}}]}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        let t = parse(&deep, &pods()).unwrap();
        assert!(t.chains[0].rules[0].text.len() <= MAX_TEXT + 4);
        // Huge: refused with a sentence, before parsing.
        let huge = format!(
            "{{\"nftables\": [{}]}}",
            "1,".repeat(MAX_JSON_BYTES / 2) + "1"
        );
        assert!(parse(&huge, &pods()).unwrap_err().0.contains("too big"));
        // Many objects and elements: bounded and said so.
        let many_rules: Vec<String> = (0..MAX_OBJECTS + 10)
            .map(|i| format!("{{\"rule\": {{\"chain\": \"c\", \"expr\": [{{\"accept\": null}}], \"handle\": {i}}}}}"))
            .collect();
        let doc = format!(
            "{{\"nftables\": [{{\"chain\": {{\"name\": \"c\"}}}}, {}]}}",
            many_rules.join(",")
        );
        let t = parse(&doc, &pods()).unwrap();
        assert_eq!(t.chains[0].rules.len(), MAX_OBJECTS - 1);
        assert!(t.notes[0].contains("first"), "{:?}", t.notes);
        let elems: Vec<String> = (0..MAX_ELEMENTS + 5)
            .map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256))
            .collect();
        let doc = format!(
            "{{\"nftables\": [{{\"set\": {{\"name\": \"a\", \"elem\": [{}]}}}}, {{\"set\": {{\"name\": \"b\", \"elem\": [\"1.1.1.1\"]}}}}]}}",
            elems.join(",")
        );
        let t = parse(&doc, &pods()).unwrap();
        assert_eq!(t.sets[0].elements.len(), MAX_ELEMENTS);
        assert_eq!(t.sets[0].elements_omitted, 5);
        assert_eq!(t.sets[1].elements_omitted, 1);
        // Long strings are cut at a character boundary.
        let long = format!(
            "{{\"nftables\": [{{\"chain\": {{\"name\": \"c\"}}}}, {{\"rule\": {{\"chain\": \"c\", \"comment\": \"{}\", \"expr\": []}}}}]}}",
            "é".repeat(5000)
        );
        let t = parse(&long, &pods()).unwrap();
        assert!(t.chains[0].rules[0].text.len() < 2 * MAX_TEXT);
    }
}
