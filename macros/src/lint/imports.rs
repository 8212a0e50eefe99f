//! The names a workflow body brings into scope itself, so that `use std::time::SystemTime as T;
//! T::now()` is read as `std::time::SystemTime::now()`.
//!
//! Only the body's own `use` items are seen: the macro is given the fn and nothing around it.
//! Names are collected from the whole body, whatever block they stand in, which is enough to
//! resolve what the rules look for.

use super::rules::Certainty;
use syn::visit::Visit;
use syn::{Block, Path, UseTree};

/// How many `use` items may lead into one another before resolution gives up (guards against
/// a cycle such as `use a as b; use b as a;`).
const MAX_HOPS: usize = 8;

/// The `use` items of a body.
#[derive(Debug, Default)]
pub(crate) struct Imports {
    /// A local name and the path it stands for, in the order written.
    names: Vec<(String, Vec<String>)>,
    /// The modules of glob imports.
    globs: Vec<Vec<String>>,
}

/// A path as it may be meant, with how sure that is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) segments: Vec<String>,
    pub(crate) certainty: Certainty,
}

impl Imports {
    /// Collects the `use` items of `body`, not looking into nested items (a nested fn has its
    /// own scope and is not part of the workflow).
    pub(crate) fn collect(body: &Block) -> Self {
        struct Collector(Imports);
        impl<'ast> Visit<'ast> for Collector {
            fn visit_item(&mut self, item: &'ast syn::Item) {
                if let syn::Item::Use(item) = item {
                    let prefix = Vec::new();
                    self.0.add(prefix, &item.tree);
                }
            }
        }
        let mut collector = Collector(Imports::default());
        collector.visit_block(body);
        collector.0
    }

    fn add(&mut self, mut prefix: Vec<String>, tree: &UseTree) {
        match tree {
            UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.add(prefix, &path.tree);
            }
            UseTree::Name(name) => {
                if name.ident == "self" {
                    if let Some(last) = prefix.last().cloned() {
                        self.names.push((last, prefix));
                    }
                } else {
                    let local = name.ident.to_string();
                    prefix.push(local.clone());
                    self.names.push((local, prefix));
                }
            }
            UseTree::Rename(rename) => {
                if rename.rename == "_" {
                    return;
                }
                if rename.ident != "self" {
                    prefix.push(rename.ident.to_string());
                }
                self.names.push((rename.rename.to_string(), prefix));
            }
            UseTree::Glob(_) => self.globs.push(prefix),
            UseTree::Group(group) => {
                for tree in &group.items {
                    self.add(prefix.clone(), tree);
                }
            }
        }
    }

    /// What `path` may stand for: the path itself, or the path a `use` item gives it, then the
    /// path under each glob import.
    pub(crate) fn resolve(&self, path: &Path) -> Vec<Candidate> {
        let written: Vec<String> = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        if path.leading_colon.is_some() {
            return vec![Candidate {
                segments: written,
                certainty: Certainty::Named,
            }];
        }
        let named = self.expand(&written);
        let imported = named != written;
        let mut candidates = vec![Candidate {
            segments: named,
            certainty: Certainty::Named,
        }];
        if !imported {
            for glob in &self.globs {
                let mut segments = self.expand(glob);
                segments.extend(written.iter().cloned());
                candidates.push(Candidate {
                    segments,
                    certainty: Certainty::Glob,
                });
            }
        }
        candidates
    }

    /// `segments` with its first segment replaced, as often as `use` items say so.
    fn expand(&self, segments: &[String]) -> Vec<String> {
        let mut current = segments.to_vec();
        for _ in 0..MAX_HOPS {
            let Some(first) = current.first() else {
                break;
            };
            // The last `use` of a name wins, as a later item would shadow an earlier one in
            // an inner block.
            let Some((_, target)) = self.names.iter().rev().find(|(local, _)| local == first)
            else {
                break;
            };
            if target.len() == 1 && target[0] == *first {
                break;
            }
            let mut next = target.clone();
            next.extend(current.drain(1..));
            current = next;
        }
        current
    }
}

#[cfg(test)]
mod tests;
