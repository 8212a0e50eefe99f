//! The signature model: what a `#[workflow]` or `#[activity]` fn declares, read leniently.
//!
//! Building the model never fails: it records what it finds (which parameter looks like the
//! context, what the `Ok` type is) and keeps the user's syntax, so that `check` can point at the
//! exact token that is wrong and `expand` can re-emit types with their original spans.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::visit::Visit;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

/// Which attribute is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Workflow,
    Activity,
}

impl Kind {
    /// The word for one definition of this kind, as used in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Workflow => "workflow",
            Kind::Activity => "activity",
        }
    }

    /// The noun with its article, to start a sentence with.
    pub(crate) fn with_article(self) -> &'static str {
        match self {
            Kind::Workflow => "a workflow",
            Kind::Activity => "an activity",
        }
    }

    /// The attribute's name, as the user writes it.
    pub(crate) fn attribute(self) -> &'static str {
        self.noun()
    }

    /// The name of the context type this kind of fn receives.
    pub(crate) fn context_type(self) -> &'static str {
        match self {
            Kind::Workflow => "WorkflowContext",
            Kind::Activity => "ActivityContext",
        }
    }

    /// The return type to suggest in messages.
    pub(crate) fn result_type(self) -> &'static str {
        match self {
            Kind::Workflow => "WorkflowResult<T>",
            Kind::Activity => "Result<T, ActivityError>",
        }
    }
}

/// A `#[workflow]` or `#[activity]` fn, as written.
pub(crate) struct Definition {
    pub(crate) kind: Kind,
    /// The user's fn, untouched.
    pub(crate) item: ItemFn,
    /// The first parameter, when its type names a context.
    pub(crate) context: Option<ContextParam>,
    /// Every other parameter (receivers excluded): the values carried in the input.
    pub(crate) args: Vec<Param>,
    pub(crate) output: Output,
}

/// The parameter that receives the context.
pub(crate) struct ContextParam {
    pub(crate) pat: Box<Pat>,
    pub(crate) ty: Box<Type>,
    pub(crate) found: FoundContext,
}

/// What a type that names a context turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FoundContext {
    /// Whose context it is: `WorkflowContext` or `ActivityContext`.
    pub(crate) kind: Kind,
    /// Written as `&Context` rather than by value.
    pub(crate) by_reference: bool,
}

/// One argument of the definition.
pub(crate) struct Param {
    pub(crate) pat: Box<Pat>,
    pub(crate) ty: Box<Type>,
}

/// The declared return type.
pub(crate) enum Output {
    /// `Result<T, E>`, `WorkflowResult<T>` or another `..Result<T, ..>`.
    Result {
        /// The whole return type, as written.
        declared: Box<Type>,
        /// `T`, the value the definition produces.
        ok: Box<Type>,
        /// `E`, when written out.
        err: Option<Box<Type>>,
    },
    /// A return type that is not a `Result`.
    NotResult(Box<Type>),
    /// No return type at all.
    Missing,
}

impl Definition {
    /// Reads the signature of `item`.
    pub(crate) fn new(kind: Kind, item: ItemFn) -> Self {
        let mut context = None;
        let mut args = Vec::new();
        let typed = item.sig.inputs.iter().filter_map(|input| match input {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        });
        for (index, typed) in typed.enumerate() {
            match context_type(&typed.ty) {
                Some(found) if index == 0 => {
                    context = Some(ContextParam {
                        pat: typed.pat.clone(),
                        ty: typed.ty.clone(),
                        found,
                    });
                }
                _ => args.push(Param {
                    pat: typed.pat.clone(),
                    ty: typed.ty.clone(),
                }),
            }
        }
        let output = match &item.sig.output {
            ReturnType::Default => Output::Missing,
            ReturnType::Type(_, ty) => match result_types(ty) {
                Some((ok, err)) => Output::Result {
                    declared: ty.clone(),
                    ok,
                    err,
                },
                None => Output::NotResult(ty.clone()),
            },
        };
        Definition {
            kind,
            item,
            context,
            args,
            output,
        }
    }

    /// The name recorded in histories when the attribute does not set one: the fn's name,
    /// without any `r#`.
    pub(crate) fn default_name(&self) -> String {
        self.item.sig.ident.unraw().to_string()
    }

    /// The fn's name, which becomes the generated type's name.
    pub(crate) fn ident(&self) -> &Ident {
        &self.item.sig.ident
    }

    /// The types the input and output are made of, when all of them can be written into a
    /// trait impl as they stand (no generics, no `impl Trait`, no borrows).
    pub(crate) fn io_types(&self) -> Option<(Vec<&Type>, &Type)> {
        if !self.item.sig.generics.params.is_empty() {
            return None;
        }
        let Output::Result { ok, .. } = &self.output else {
            return None;
        };
        let ok: &Type = ok;
        let args: Vec<&Type> = self.args.iter().map(|arg| &*arg.ty).collect();
        let owned = args.iter().copied().chain([ok]).all(|ty| {
            let mut parts = UnownedParts::default();
            parts.visit_type(ty);
            parts.is_empty()
        });
        owned.then_some((args, ok))
    }
}

/// Whether `ty` names a context type, by its last path segment.
pub(crate) fn context_type(ty: &Type) -> Option<FoundContext> {
    match ty {
        Type::Group(group) => context_type(&group.elem),
        Type::Paren(paren) => context_type(&paren.elem),
        Type::Reference(reference) => context_type(&reference.elem).map(|found| FoundContext {
            by_reference: true,
            ..found
        }),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if !last.arguments.is_none() {
                return None;
            }
            let kind = if last.ident == "WorkflowContext" {
                Kind::Workflow
            } else if last.ident == "ActivityContext" {
                Kind::Activity
            } else {
                return None;
            };
            Some(FoundContext {
                kind,
                by_reference: false,
            })
        }
        _ => None,
    }
}

/// Splits `Result<T, E>`, `WorkflowResult<T>`, `io::Result<T>` and the like into `T` and, when
/// written, `E`.
fn result_types(ty: &Type) -> Option<(Box<Type>, Option<Box<Type>>)> {
    match ty {
        Type::Group(group) => result_types(&group.elem),
        Type::Paren(paren) => result_types(&paren.elem),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if !last.ident.to_string().ends_with("Result") {
                return None;
            }
            let PathArguments::AngleBracketed(generics) = &last.arguments else {
                return None;
            };
            let mut types = generics.args.iter().filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(Box::new(ty.clone())),
                _ => None,
            });
            let ok = types.next()?;
            Some((ok, types.next()))
        }
        _ => None,
    }
}

/// The parts of a type that keep it from being decoded into a fresh value: `impl Trait`, and
/// borrows (`&T`, `'_`, any lifetime but `'static`).
#[derive(Default)]
pub(crate) struct UnownedParts {
    pub(crate) impl_traits: Vec<TokenStream>,
    pub(crate) borrows: Vec<TokenStream>,
}

impl UnownedParts {
    fn is_empty(&self) -> bool {
        self.impl_traits.is_empty() && self.borrows.is_empty()
    }
}

impl<'ast> Visit<'ast> for UnownedParts {
    fn visit_type_impl_trait(&mut self, node: &'ast syn::TypeImplTrait) {
        self.impl_traits.push(node.to_token_stream());
    }

    fn visit_type_reference(&mut self, node: &'ast syn::TypeReference) {
        if node.lifetime.is_none() {
            self.borrows.push(node.to_token_stream());
        } else {
            syn::visit::visit_type_reference(self, node);
        }
    }

    fn visit_lifetime(&mut self, node: &'ast syn::Lifetime) {
        if node.ident != "static" {
            self.borrows.push(node.to_token_stream());
        }
    }
}

#[cfg(test)]
mod tests;
