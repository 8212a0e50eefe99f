//! The module graphs of `runtime/src` and `macros/src` have no cycle.
//!
//! Each crate's source is parsed (`syn`) from its `lib.rs`, following `mod` declarations; test
//! modules (`#[cfg(test)]`) are left out. A module depends on another when it names an item of
//! it: in a `use`, or in a path anywhere in its code (`super::run::Run`, `crate::proto::x`,
//! `shared::Core::new()`). A path through a re-export (`pub use`) is followed to where the item
//! is defined, so `crate::Client` depends on `client`, not on the crate root. Declaring a child
//! module (`mod run;`) or re-exporting its items (`pub use run::Run;`) is not a dependency on
//! it; naming its items in code is.
//!
//! A cycle is reported with the path that makes each of its arrows, so it can be cut where it
//! is weakest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

#[test]
fn runtime_modules_form_no_cycle() {
    assert_acyclic("dacapo", &workspace().join("runtime/src"));
}

#[test]
fn macro_modules_form_no_cycle() {
    assert_acyclic("dacapo-macros", &workspace().join("macros/src"));
}

#[test]
fn the_checker_finds_a_cycle() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let write = |name: &str, text: &str| {
        fs::write(dir.path().join(name), text).expect("write a source file");
    };
    write("lib.rs", "mod a;\nmod b;\nmod c;\npub use c::Thing;\n");
    write("a.rs", "use crate::b::helper;\npub struct A;\n");
    write("b.rs", "pub fn helper() { let _ = super::a::A; }\n");
    write(
        "c.rs",
        "pub struct Thing;\nfn f() -> crate::Thing { Thing }\n",
    );
    let graph = Graph::load(dir.path()).expect("parse the sample crate");
    let cycles = graph.cycles();
    let names: Vec<Vec<String>> = cycles
        .iter()
        .map(|c| c.iter().map(|m| graph.name(*m)).collect())
        .collect();
    assert_eq!(names, vec![vec!["a".to_string(), "b".to_string()]]);
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn assert_acyclic(krate: &str, src: &Path) {
    let graph = Graph::load(src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    assert!(
        graph.modules.len() > 5,
        "only {} modules found under {}",
        graph.modules.len(),
        src.display()
    );
    let cycles = graph.cycles();
    if cycles.is_empty() {
        return;
    }
    let mut report = format!(
        "{} cycle(s) in the module graph of {krate}:\n",
        cycles.len()
    );
    for cycle in &cycles {
        let members: BTreeSet<usize> = cycle.iter().copied().collect();
        let names: Vec<String> = cycle.iter().map(|m| graph.name(*m)).collect();
        report.push_str(&format!("\n  {{{}}}\n", names.join(", ")));
        for &from in cycle {
            for (to, why) in &graph.modules[from].deps {
                if members.contains(to) {
                    report.push_str(&format!(
                        "    {} -> {}  ({})\n",
                        graph.name(from),
                        graph.name(*to),
                        why
                    ));
                }
            }
        }
    }
    panic!("{report}");
}

/// One module: where it sits, what it declares, what it names.
#[derive(Default)]
struct Module {
    path: Vec<String>,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    /// Names brought in by `use` (and `pub use`), with the path they stand for.
    uses: BTreeMap<String, Vec<String>>,
    /// The names of `uses` that are re-exports (`pub use`, `pub(crate) use`).
    reexports: BTreeSet<String>,
    /// Modules glob-imported (`use x::*`), as paths.
    globs: Vec<Vec<String>>,
    /// Every path the module's code names, as written.
    named: Vec<Vec<String>>,
    /// Resolved dependencies: module index, with the first path that made it.
    deps: BTreeMap<usize, String>,
}

struct Graph {
    modules: Vec<Module>,
}

impl Graph {
    fn load(src: &Path) -> Result<Graph, String> {
        let mut graph = Graph {
            modules: vec![Module::default()],
        };
        let lib = src.join("lib.rs");
        let file = parse(&lib)?;
        graph.read_items(0, &file.items, src)?;
        for m in 0..graph.modules.len() {
            graph.resolve_module(m);
        }
        Ok(graph)
    }

    fn name(&self, m: usize) -> String {
        if self.modules[m].path.is_empty() {
            "crate".to_string()
        } else {
            self.modules[m].path.join("::")
        }
    }

    /// Reads a module's items. `dir` is where its child modules' files are: beside `lib.rs` or
    /// `mod.rs`, in `x/` for `x.rs`.
    fn read_items(&mut self, m: usize, items: &[syn::Item], dir: &Path) -> Result<(), String> {
        let mut collector = Collector::default();
        for item in items {
            if is_test_only(item_attrs(item)) {
                continue;
            }
            match item {
                syn::Item::Mod(module) => {
                    let name = module.ident.to_string();
                    let child = self.modules.len();
                    let mut path = self.modules[m].path.clone();
                    path.push(name.clone());
                    self.modules.push(Module {
                        path,
                        parent: Some(m),
                        ..Module::default()
                    });
                    self.modules[m].children.insert(name.clone(), child);
                    let child_dir = dir.join(&name);
                    match &module.content {
                        Some((_, inner)) => self.read_items(child, inner, &child_dir)?,
                        None => {
                            let flat = dir.join(format!("{name}.rs"));
                            let file_path = if flat.exists() {
                                flat
                            } else {
                                child_dir.join("mod.rs")
                            };
                            let file = parse(&file_path)?;
                            self.read_items(child, &file.items, &child_dir)?;
                        }
                    }
                }
                syn::Item::Use(u) => {
                    let module = &mut self.modules[m];
                    let before: BTreeSet<String> = module.uses.keys().cloned().collect();
                    flatten_use(&u.tree, &mut Vec::new(), module);
                    if !matches!(u.vis, syn::Visibility::Inherited) {
                        let added: Vec<String> = module
                            .uses
                            .keys()
                            .filter(|k| !before.contains(*k))
                            .cloned()
                            .collect();
                        module.reexports.extend(added);
                    }
                }
                other => collector.visit_item(other),
            }
        }
        self.modules[m].named.extend(collector.paths);
        Ok(())
    }

    /// Resolves the first segment of a path as seen from module `m`, then walks the rest.
    /// Returns the module where the named item is defined, if it is in this crate.
    fn resolve(&self, m: usize, path: &[String], depth: usize) -> Option<usize> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let (start, rest) = match path[0].as_str() {
            "crate" => (0, &path[1..]),
            "self" => (m, &path[1..]),
            "super" => {
                let mut at = self.modules[m].parent?;
                let mut rest = &path[1..];
                while rest.first().map(String::as_str) == Some("super") {
                    at = self.modules[at].parent?;
                    rest = &rest[1..];
                }
                (at, rest)
            }
            first => {
                if let Some(&child) = self.modules[m].children.get(first) {
                    (child, &path[1..])
                } else if let Some(target) = self.modules[m].uses.get(first) {
                    if target.first().map(String::as_str) == Some(first) && target.len() == 1 {
                        return None; // `use serde;`: an extern crate
                    }
                    let mut full = target.clone();
                    full.extend_from_slice(&path[1..]);
                    return self.resolve(m, &full, depth + 1);
                } else {
                    // An extern crate, a prelude name, a local item or a generic: not a module
                    // of this crate (globs are counted as dependencies on their own).
                    return None;
                }
            }
        };
        self.walk(start, rest, depth)
    }

    /// From module `at`, follows child modules and re-exports named by `rest`.
    fn walk(&self, mut at: usize, rest: &[String], depth: usize) -> Option<usize> {
        let mut i = 0;
        while i < rest.len() {
            let seg = &rest[i];
            if let Some(&child) = self.modules[at].children.get(seg) {
                at = child;
                i += 1;
                continue;
            }
            if let Some(target) = self.modules[at].uses.get(seg) {
                let mut full = target.clone();
                full.extend_from_slice(&rest[i + 1..]);
                return self.resolve(at, &full, depth + 1).or(Some(at));
            }
            return Some(at);
        }
        Some(at)
    }

    fn resolve_module(&mut self, m: usize) {
        let mut deps = BTreeMap::new();
        let mut note = |to: Option<usize>, why: String| {
            if let Some(to) = to
                && to != m
            {
                deps.entry(to).or_insert(why);
            }
        };
        for (name, path) in &self.modules[m].uses {
            // A re-export is a name offered to others, not a use: paths through it are followed
            // to the item, and the module's own code naming it is counted below.
            if !self.modules[m].reexports.contains(name) {
                note(self.resolve(m, path, 0), format!("use {}", path.join("::")));
            }
        }
        for path in &self.modules[m].globs {
            note(
                self.resolve(m, path, 0),
                format!("use {}::*", path.join("::")),
            );
        }
        for path in &self.modules[m].named {
            if path.len() < 2 && !self.modules[m].uses.contains_key(&path[0]) {
                continue;
            }
            note(self.resolve(m, path, 0), path.join("::"));
        }
        self.modules[m].deps = deps;
    }

    /// The strongly connected components with more than one module, each sorted by name.
    fn cycles(&self) -> Vec<Vec<usize>> {
        let n = self.modules.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut next = 0;
        let mut out = Vec::new();
        for v in 0..n {
            if index[v] == usize::MAX {
                self.strongconnect(
                    v,
                    &mut next,
                    &mut index,
                    &mut low,
                    &mut on_stack,
                    &mut stack,
                    &mut out,
                );
            }
        }
        for c in &mut out {
            c.sort_by_key(|m| self.name(*m));
        }
        out.sort_by_key(|c| self.name(c[0]));
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn strongconnect(
        &self,
        v: usize,
        next: &mut usize,
        index: &mut [usize],
        low: &mut [usize],
        on_stack: &mut [bool],
        stack: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        index[v] = *next;
        low[v] = *next;
        *next += 1;
        stack.push(v);
        on_stack[v] = true;
        for &w in self.modules[v].deps.keys() {
            if index[w] == usize::MAX {
                self.strongconnect(w, next, index, low, on_stack, stack, out);
                low[v] = low[v].min(low[w]);
            } else if on_stack[w] {
                low[v] = low[v].min(index[w]);
            }
        }
        if low[v] == index[v] {
            let mut component = Vec::new();
            while let Some(w) = stack.pop() {
                on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                out.push(component);
            }
        }
    }
}

fn parse(path: &Path) -> Result<syn::File, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    syn::parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, module: &mut Module) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, module);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut full = prefix.clone();
            if name == "self" {
                let alias = prefix.last().cloned().unwrap_or_default();
                module.uses.insert(alias, full);
            } else {
                full.push(name.clone());
                module.uses.insert(name, full);
            }
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.clone();
            let name = r.ident.to_string();
            if name != "self" {
                full.push(name);
            }
            let alias = r.rename.to_string();
            if alias != "_" {
                module.uses.insert(alias, full);
            } else {
                module.named.push(full);
            }
        }
        syn::UseTree::Glob(_) => module.globs.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix, module);
            }
        }
    }
}

/// Collects the paths in a module's code, leaving out test-only items and nested modules
/// (which are read as modules of their own).
#[derive(Default)]
struct Collector {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.paths
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        if is_test_only(item_attrs(item)) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        if let syn::ImplItem::Fn(f) = item
            && is_test_only(&f.attrs)
        {
            return;
        }
        syn::visit::visit_impl_item(self, item);
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// `#[cfg(test)]`, alone or as `all(test, ...)`.
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let text = a
                .meta
                .require_list()
                .map(|l| l.tokens.to_string())
                .unwrap_or_default();
            text == "test" || text.starts_with("all (test")
        }
    })
}
