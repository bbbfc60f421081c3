//! The layout that ARCHITECTURE.md describes, checked from the source: no two source files
//! import each other (directly or through a loop), the server's layers depend one way, and the
//! agent's components share only the common layer.
//!
//! Every crate's `src/` is parsed with `syn`. An edge runs from a file to the file that defines
//! what one of its paths names (`use crate::a::b`, `super::x`, `crate::a::f()` in an expression,
//! a child module's name): re-exports are followed to the file that defines the item, so a
//! `mod.rs` that only declares and re-exports its children adds no edge to them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module path inside one crate, `[]` being the crate root.
type ModPath = Vec<String>;

/// One crate's modules: the file that holds each module (inline modules map to their file).
struct Crate {
    name: &'static str,
    files: BTreeMap<ModPath, PathBuf>,
    /// Per module: `pub use` names and the paths they re-export (already made absolute).
    reexports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
    /// Per module: the items it defines itself (fn, struct, enum, trait, const, static, type,
    /// macro, module).
    items: BTreeMap<ModPath, BTreeSet<String>>,
    /// Every path a file names, with the module it was written in.
    refs: Vec<(PathBuf, ModPath, ModPath)>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// The module path of a file under `src/` (lib.rs and main.rs are roots of their own trees).
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Collects, for one file, its inline modules, items, re-exports and referenced paths.
struct Collector<'a> {
    file: &'a Path,
    module: ModPath,
    krate: &'a mut Crate,
    /// Names brought into scope by `use` in the current module: name -> absolute path.
    scope: Vec<BTreeMap<String, ModPath>>,
}

impl Collector<'_> {
    /// Makes a path written in the current module absolute: `crate::`, `super::`, `self::`, a
    /// name `use`d in this module, or a child module. `None` for paths into other crates, std
    /// and local names.
    fn absolute(&self, segs: &[String]) -> Option<ModPath> {
        let first = segs.first()?;
        match first.as_str() {
            "crate" => Some(segs[1..].to_vec()),
            "self" => {
                let mut m = self.module.clone();
                m.extend_from_slice(&segs[1..]);
                Some(m)
            }
            "super" => {
                let mut m = self.module.clone();
                let mut rest = segs;
                while rest.first().map(String::as_str) == Some("super") {
                    m.pop();
                    rest = &rest[1..];
                }
                m.extend_from_slice(rest);
                Some(m)
            }
            name => {
                if let Some(target) = self.scope.last().and_then(|s| s.get(name)) {
                    let mut m = target.clone();
                    m.extend_from_slice(&segs[1..]);
                    return Some(m);
                }
                let mut child = self.module.clone();
                child.push(name.to_string());
                if self.krate.files.contains_key(&child) {
                    child.extend_from_slice(&segs[1..]);
                    return Some(child);
                }
                None
            }
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, public: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                self.bind(prefix, &name, &name, public);
            }
            syn::UseTree::Rename(r) => {
                self.bind(prefix, &r.ident.to_string(), &r.rename.to_string(), public);
            }
            syn::UseTree::Glob(_) => {
                if let Some(abs) = self.absolute(prefix) {
                    self.krate
                        .refs
                        .push((self.file.to_path_buf(), self.module.clone(), abs));
                }
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, public);
                }
            }
        }
    }

    fn bind(&mut self, prefix: &[String], name: &str, alias: &str, public: bool) {
        let mut segs = prefix.to_vec();
        if name != "self" {
            segs.push(name.to_string());
        }
        let Some(abs) = self.absolute(&segs) else {
            return;
        };
        if alias != "_" && alias != "self" {
            self.scope
                .last_mut()
                .expect("scope")
                .insert(alias.to_string(), abs.clone());
        }
        if public {
            self.krate
                .reexports
                .entry(self.module.clone())
                .or_default()
                .insert(alias.to_string(), abs.clone());
        }
        self.krate
            .refs
            .push((self.file.to_path_buf(), self.module.clone(), abs));
    }

    fn item(&mut self, name: String) {
        self.krate
            .items
            .entry(self.module.clone())
            .or_default()
            .insert(name);
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        let mut prefix = Vec::new();
        if u.leading_colon.is_none() {
            self.use_tree(&mut prefix, &u.tree, public);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.item(m.ident.to_string());
        if let Some((_, items)) = &m.content {
            self.module.push(m.ident.to_string());
            self.krate
                .files
                .entry(self.module.clone())
                .or_insert_with(|| self.file.to_path_buf());
            self.scope.push(BTreeMap::new());
            // Uses first, so that a name used before its `use` line still resolves.
            for item in items {
                if let syn::Item::Use(u) = item {
                    self.visit_item_use(u);
                }
            }
            for item in items {
                if !matches!(item, syn::Item::Use(_)) {
                    self.visit_item(item);
                }
            }
            self.scope.pop();
            self.module.pop();
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.item(f.sig.ident.to_string());
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        self.item(s.ident.to_string());
        syn::visit::visit_item_struct(self, s);
    }
    fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
        self.item(e.ident.to_string());
        syn::visit::visit_item_enum(self, e);
    }
    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        self.item(t.ident.to_string());
        syn::visit::visit_item_trait(self, t);
    }
    fn visit_item_const(&mut self, c: &'ast syn::ItemConst) {
        self.item(c.ident.to_string());
        syn::visit::visit_item_const(self, c);
    }
    fn visit_item_static(&mut self, s: &'ast syn::ItemStatic) {
        self.item(s.ident.to_string());
        syn::visit::visit_item_static(self, s);
    }
    fn visit_item_type(&mut self, t: &'ast syn::ItemType) {
        self.item(t.ident.to_string());
        syn::visit::visit_item_type(self, t);
    }
    fn visit_item_macro(&mut self, m: &'ast syn::ItemMacro) {
        if let Some(ident) = &m.ident {
            self.item(ident.to_string());
        }
        syn::visit::visit_item_macro(self, m);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() && p.segments.len() > 1 {
            let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
            if let Some(abs) = self.absolute(&segs) {
                self.krate
                    .refs
                    .push((self.file.to_path_buf(), self.module.clone(), abs));
            }
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // Paths inside macro calls (`format!("{}", crate::x::Y)`, `vec![super::f()]`) are tokens,
        // not syntax: parse them as comma-separated expressions where they are.
        let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        if let Ok(exprs) = syn::parse::Parser::parse2(parser, m.tokens.clone()) {
            for e in &exprs {
                self.visit_expr(e);
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

fn load(name: &'static str, src: &Path) -> Crate {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    paths.sort();
    let mut krate = Crate {
        name,
        files: BTreeMap::new(),
        reexports: BTreeMap::new(),
        items: BTreeMap::new(),
        refs: Vec::new(),
    };
    // A file that is not a module of the library (a binary's main.rs) is a root of its own.
    for p in &paths {
        krate.files.insert(module_of(src, p), p.clone());
    }
    if paths.iter().any(|p| p.ends_with("lib.rs")) {
        krate.files.insert(Vec::new(), src.join("lib.rs"));
    }
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("read source");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let module = if p.ends_with("main.rs") && src.join("lib.rs").exists() {
            vec!["<main>".to_string()]
        } else {
            module_of(src, p)
        };
        let mut c = Collector {
            file: p,
            module,
            krate: &mut krate,
            scope: vec![BTreeMap::new()],
        };
        for item in &ast.items {
            if let syn::Item::Use(u) = item {
                c.visit_item_use(u);
            }
        }
        for item in &ast.items {
            if !matches!(item, syn::Item::Use(_)) {
                c.visit_item(item);
            }
        }
    }
    krate
}

impl Crate {
    /// The file that defines what `path` names, following re-exports; `None` outside this crate.
    fn resolve(&self, path: &[String], depth: usize) -> Option<PathBuf> {
        if depth > 16 {
            return None;
        }
        // The longest prefix that is a module.
        let mut n = path.len();
        while n > 0 && !self.files.contains_key(&path[..n]) {
            n -= 1;
        }
        let module = &path[..n];
        if let Some(next) = path.get(n) {
            let defined_here = self.items.get(module).is_some_and(|i| i.contains(next));
            if !defined_here {
                if let Some(target) = self.reexports.get(module).and_then(|r| r.get(next)) {
                    let mut full = target.clone();
                    full.extend_from_slice(&path[n + 1..]);
                    if full.as_slice() != path {
                        return self.resolve(&full, depth + 1);
                    }
                }
            }
        }
        self.files.get(module).cloned()
    }

    /// File-level edges, without self-edges, and without a module's edges to its own
    /// descendants made by re-exporting them (its declared interface).
    fn edges(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut out: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for (file, from_mod, path) in &self.refs {
            if let Some(target) = self.resolve(path, 0) {
                if &target == file {
                    continue;
                }
                // `pub use child::X` in a parent is the parent's interface, not a dependency.
                let reexport = self
                    .reexports
                    .get(from_mod)
                    .is_some_and(|r| r.values().any(|v| v == path))
                    && path.starts_with(from_mod);
                if reexport {
                    continue;
                }
                out.entry(file.clone()).or_default().insert(target);
            }
        }
        out
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(workspace())
        .unwrap_or(p)
        .display()
        .to_string()
}

/// Every cycle's files, one strongly connected component per entry (Tarjan).
fn cycles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn strong<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws {
                if !t.index.contains_key(w) {
                    strong(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).expect("low");
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).expect("low");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    let mut nodes: BTreeSet<&PathBuf> = edges.keys().collect();
    nodes.extend(edges.values().flatten());
    for v in nodes {
        if !t.index.contains_key(v) {
            strong(&mut t, v);
        }
    }
    t.out
}

fn crates() -> Vec<Crate> {
    let root = workspace();
    vec![
        load("server", &root.join("server/src")),
        load("agent", &root.join("docker/agent/src")),
        load("netrules", &root.join("crates/netrules/src")),
        load("labkit", &root.join("crates/labkit/src")),
    ]
}

#[test]
fn no_two_source_files_import_each_other() {
    let mut report = Vec::new();
    for krate in crates() {
        let edges = krate.edges();
        for comp in cycles(&edges) {
            let mut lines = vec![format!(
                "{}: {} files import each other:",
                krate.name,
                comp.len()
            )];
            for f in &comp {
                let to: Vec<String> = edges[f]
                    .iter()
                    .filter(|t| comp.contains(t))
                    .map(|t| rel(t))
                    .collect();
                lines.push(format!("  {} -> {}", rel(f), to.join(", ")));
            }
            report.push(lines.join("\n"));
        }
    }
    assert!(report.is_empty(), "import cycles:\n{}", report.join("\n"));
}

/// The top-level module a file belongs to (`web` for `server/src/web/handlers/api.rs`).
fn top(krate: &Crate, file: &Path) -> Option<String> {
    krate
        .files
        .iter()
        .find(|(_, f)| f.as_path() == file)
        .and_then(|(m, _)| m.first().cloned())
}

/// Every edge from a file of top-level module `from` to a file of a top-level module in `to`.
fn crossings(krate: &Crate, allowed: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for (file, targets) in krate.edges() {
        let Some(a) = top(krate, &file) else { continue };
        for t in targets {
            let Some(b) = top(krate, &t) else { continue };
            if a != b && !allowed(&a, &b) {
                out.push(format!("{} ({a}) -> {} ({b})", rel(&file), rel(&t)));
            }
        }
    }
    out
}

#[test]
fn server_layers_depend_one_way() {
    let krates = crates();
    let server = &krates[0];
    // Lower layers never reach up: the engine and the store know nothing of the web or of the
    // domain; the domain knows nothing of the web; the command-line tools (labs test, the
    // benchmarks) use the engine, never the web.
    let rank = |m: &str| match m {
        "sandbox" | "isolation" => Some(0),
        "engine" | "store" => Some(1),
        "lifecycle" | "workshop" | "panel" | "domain" => Some(2),
        "web" => Some(3),
        _ => None,
    };
    let mut bad = crossings(server, |a, b| match (rank(a), rank(b)) {
        (Some(ra), Some(rb)) => ra >= rb,
        // Tools (labs, bench, doctor, the CLI) may use anything below the web.
        (None, Some(rb)) => rb < 3,
        (Some(_), None) => false,
        (None, None) => true,
    });
    bad.sort();
    assert!(
        bad.is_empty(),
        "imports against the server's layering:\n{}",
        bad.join("\n")
    );
}

#[test]
fn agent_components_share_only_the_common_layer() {
    let krates = crates();
    let agent = &krates[1];
    // Every component of the agent (apiserver, controllers, kubelet, kube-proxy, dns, policy,
    // probe…) uses the shared Kubernetes layer `kube` and never another component. The
    // property-test generators (`props`, test builds only) are shared by the components' tests.
    let mut bad = crossings(agent, |from, to| {
        to == "kube" || to == "props" || from == "props"
    });
    bad.sort();
    assert!(
        bad.is_empty(),
        "agent components that import each other:\n{}",
        bad.join("\n")
    );
}
