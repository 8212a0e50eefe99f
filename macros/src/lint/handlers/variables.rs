//! Names in a handler: the variables its closure binds, and the names that code dropped from
//! the body used, which are kept in use.

use proc_macro2::{Ident, TokenStream};
use quote::quote;
use std::collections::HashSet;
use syn::visit::Visit;
use syn::{Expr, ExprClosure};

/// The variables of a closure: every name a pattern binds in it, its parameters included, and
/// apart those that stand for something it captured (`let ctx = ctx.clone();`).
#[derive(Default)]
pub(super) struct Variables {
    /// Assigning to one of these changes the closure's own variable. Shadowing is not followed,
    /// which errs on the side of accepting.
    pub(super) declared: HashSet<String>,
    /// Declared by a `let` whose value is a captured variable, a clone of one or a borrow of
    /// one: their methods reach what the closure captured.
    pub(super) aliases: HashSet<String>,
}

impl Variables {
    pub(super) fn of(closure: &ExprClosure) -> Variables {
        #[derive(Default)]
        struct Bindings {
            variables: Variables,
            in_alias: bool,
        }
        impl<'ast> Visit<'ast> for Bindings {
            fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
                let name = pat.ident.to_string();
                if self.in_alias {
                    self.variables.aliases.insert(name.clone());
                }
                self.variables.declared.insert(name);
                syn::visit::visit_pat_ident(self, pat);
            }
            fn visit_local(&mut self, local: &'ast syn::Local) {
                // The value first, whose own bindings (a closure's parameters) are not aliases.
                if let Some(init) = &local.init {
                    self.visit_local_init(init);
                }
                let alias = local
                    .init
                    .as_ref()
                    .is_some_and(|init| self.variables.stands_for_captured(&init.expr));
                let outer = std::mem::replace(&mut self.in_alias, alias);
                self.visit_pat(&local.pat);
                self.in_alias = outer;
            }
        }
        let mut bindings = Bindings::default();
        bindings.visit_expr_closure(closure);
        bindings.variables
    }

    /// Whether `name` is the closure's own, and not an alias of something it captured.
    pub(super) fn is_own(&self, name: &str) -> bool {
        self.declared.contains(name) && !self.aliases.contains(name)
    }

    /// Whether the value `expr` is, or holds, a captured variable as it is: the variable, a
    /// field of it, a borrow, a `.clone()` or `Arc::clone(&..)` of it, or a tuple of such.
    fn stands_for_captured(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Path(path) => match path.path.get_ident() {
                Some(ident) => {
                    let name = ident.to_string();
                    name.starts_with(|c: char| c.is_lowercase() || c == '_') && !self.is_own(&name)
                }
                None => false,
            },
            Expr::Field(field) => self.stands_for_captured(&field.base),
            Expr::Paren(paren) => self.stands_for_captured(&paren.expr),
            Expr::Group(group) => self.stands_for_captured(&group.expr),
            Expr::Reference(reference) => self.stands_for_captured(&reference.expr),
            Expr::Unary(unary) => self.stands_for_captured(&unary.expr),
            Expr::MethodCall(call) if call.method == "clone" && call.args.is_empty() => {
                self.stands_for_captured(&call.receiver)
            }
            Expr::Call(call) => {
                let clone = matches!(&*call.func, Expr::Path(path)
                    if path.path.segments.last().is_some_and(|last| last.ident == "clone"));
                clone && call.args.iter().any(|arg| self.stands_for_captured(arg))
            }
            Expr::Tuple(tuple) => tuple.elems.iter().any(|e| self.stands_for_captured(e)),
            Expr::Array(array) => array.elems.iter().any(|e| self.stands_for_captured(e)),
            _ => false,
        }
    }
}

/// Statements that keep in use what `exprs` name, for when they are dropped from the body, so
/// that a variable or an import used only there is not reported as unused as well: `let _ =
/// &name;` for each variable (a lower-case single name, not a callee, not bound inside `exprs`),
/// and `use First as _;` for the first segment of each longer path.
pub(super) fn names_kept<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> TokenStream {
    #[derive(Default)]
    struct Names {
        variables: Vec<Ident>,
        imports: Vec<Ident>,
        bound: HashSet<String>,
    }
    impl<'ast> Visit<'ast> for Names {
        fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
            let path = &expr.path;
            let first = path
                .segments
                .first()
                .filter(|_| expr.qself.is_none() && path.leading_colon.is_none());
            if let Some(first) = first {
                let name = first.ident.to_string();
                let keyword = ["self", "Self", "super", "crate"].contains(&name.as_str());
                let list = if path.segments.len() > 1 {
                    Some(&mut self.imports)
                } else if first.arguments.is_none()
                    && name.starts_with(|c: char| c.is_lowercase() || c == '_')
                {
                    Some(&mut self.variables)
                } else {
                    None
                };
                if let Some(list) = list.filter(|_| !keyword)
                    && !list.contains(&first.ident)
                {
                    list.push(first.ident.clone());
                }
            }
            syn::visit::visit_expr_path(self, expr);
        }
        fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
            // A function called by a single name may be generic: naming it alone would not say
            // which instance.
            match &*call.func {
                Expr::Path(path) if path.path.segments.len() == 1 => {}
                func => self.visit_expr(func),
            }
            call.args.iter().for_each(|arg| self.visit_expr(arg));
        }
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.bound.insert(pat.ident.to_string());
            syn::visit::visit_pat_ident(self, pat);
        }
    }
    let mut names = Names::default();
    exprs.into_iter().for_each(|expr| names.visit_expr(expr));
    let Names {
        variables,
        imports,
        bound,
    } = names;
    let variables = variables
        .into_iter()
        .filter(|variable| !bound.contains(&variable.to_string()));
    quote! {
        #(
            #[allow(unused_imports)]
            use #imports as _;
        )*
        #(let _ = &#variables;)*
    }
}
