//! Code generation for `#[workflow]` and `#[activity]`.
//!
//! The fn becomes a unit struct of the same name, so that `ctx.activity(charge_card, ..)` names
//! it; an inherent `run` that keeps the body and stays callable in tests; and an impl of the
//! runtime's definition trait. When `check` finds a mistake in the signature, a stub of the same
//! shape is emitted next to the errors, so that code using the definition does not fail in a
//! cascade. Mistakes in the attribute's arguments alone do not need the stub: the definition is
//! generated with the arguments that were read correctly. A workflow's body goes through `lint`
//! before `on_cancel!` is rewritten; what the lint rejects is reported by the body itself, so
//! it does not need the stub either.

use crate::attr::{Args, CratePath};
use crate::cancel;
use crate::check;
use crate::diagnostics::Errors;
use crate::lint;
use crate::model::{Definition, Kind, Output};
use crate::private;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{Attribute, FnArg, Ident, Item, Pat, PatIdent, Signature};

/// Expands `#[workflow(args)]` on `item`.
pub(crate) fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Workflow, args, item)
}

/// Expands `#[activity(args)]` on `item`.
pub(crate) fn activity(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Activity, args, item)
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let (mut tokens, errors) = expand_parts(kind, args, item);
    if let Some(error) = errors.into_error() {
        tokens.extend(error.into_compile_error());
    }
    tokens
}

/// The generated items and, apart, the errors found on the way.
fn expand_parts(kind: Kind, args: TokenStream, item: TokenStream) -> (TokenStream, Errors) {
    let mut errors = Errors::default();
    let args = Args::parse(kind, args, &mut errors);
    check::options(&args.options, &mut errors);
    let item_fn = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(item_fn)) => item_fn,
        Ok(other) => {
            errors.push(not_a_fn(kind, &other));
            return (item, errors);
        }
        Err(error) => {
            errors.push(error);
            return (item, errors);
        }
    };
    let def = Definition::new(kind, item_fn);
    // Mistakes in the arguments alone leave the signature usable: only these decide between
    // the definition and a stub.
    let mut def_errors = Errors::default();
    check::definition(&def, &mut def_errors);
    let generator = Generator::new(&def, &args);
    let (body, misuses) = generator.body(&mut def_errors);
    let tokens = if def_errors.is_empty() {
        // The misuses are reported by the body itself, each where it stands.
        generator.definition(body)
    } else {
        // The body is not emitted: report its misuses with the other errors.
        for misuse in misuses {
            def_errors.push(misuse);
        }
        if def.item.sig.receiver().is_some() {
            // A method stands in an `impl` or a trait, where no type can be declared: keep it
            // as it is, next to the error.
            def.item.to_token_stream()
        } else {
            generator.stub()
        }
    };
    errors.extend(def_errors);
    (tokens, errors)
}

fn not_a_fn(kind: Kind, item: &Item) -> syn::Error {
    let message = format!(
        "`#[{}]` goes on an `async fn`: {}",
        kind.attribute(),
        match kind {
            Kind::Workflow => "`async fn name(ctx: WorkflowContext, ..) -> WorkflowResult<T>`",
            Kind::Activity => "`async fn name([ctx: ActivityContext,] ..) -> Result<T, E>`",
        }
    );
    let span = match item {
        Item::Struct(item) => item.struct_token.span,
        Item::Enum(item) => item.enum_token.span,
        Item::Impl(item) => item.impl_token.span,
        Item::Trait(item) => item.trait_token.span,
        Item::Mod(item) => item.mod_token.span,
        Item::Const(item) => item.const_token.span,
        Item::Static(item) => item.static_token.span,
        Item::Type(item) => item.type_token.span,
        _ => Span::call_site(),
    };
    syn::Error::new(span, message)
}

/// Everything the generated items share.
struct Generator<'a> {
    def: &'a Definition,
    args: &'a Args,
    /// `::dacapo`, or the `crate = ".."` override.
    krate: TokenStream,
    /// `::dacapo::__private_<version>`, or the same under the override.
    private: TokenStream,
    /// The name the context parameter is bound to in `run`.
    ctx: Ident,
    /// The user's attributes, sorted by where they go.
    docs: Vec<&'a Attribute>,
    cfgs: Vec<&'a Attribute>,
    others: Vec<&'a Attribute>,
}

impl<'a> Generator<'a> {
    fn new(def: &'a Definition, args: &'a Args) -> Self {
        let krate = CratePath::tokens(args.krate.as_ref());
        let private = private::path(&krate);
        let ctx = match def.context.as_ref().map(|ctx| &*ctx.pat) {
            Some(Pat::Ident(pat)) => pat.ident.clone(),
            _ => Ident::new("__dacapo_ctx", Span::mixed_site()),
        };
        let mut docs = Vec::new();
        let mut cfgs = Vec::new();
        let mut others = Vec::new();
        for attr in &def.item.attrs {
            if attr.path().is_ident("doc") {
                docs.push(attr);
            } else if attr.path().is_ident("cfg") {
                cfgs.push(attr);
            } else {
                others.push(attr);
            }
        }
        Generator {
            def,
            args,
            krate,
            private,
            ctx,
            docs,
            cfgs,
            others,
        }
    }

    /// The body of `run`: the user's, linted for determinism and with `on_cancel!` rewritten
    /// in a workflow; and apart, the misuses the lint found, which the body reports itself.
    fn body(&self, errors: &mut Errors) -> (TokenStream, Vec<syn::Error>) {
        let block = &self.def.item.block;
        if self.def.kind == Kind::Activity {
            return (quote!(#block), Vec::new());
        }
        let crate_path = self.args.krate.as_ref().map(CratePath::path);
        let linted = lint::workflow_body(
            &self.def.item.sig,
            block,
            &lint::Site {
                private: &self.private,
                crate_path,
            },
        );
        let ret = match &self.def.output {
            Output::Result { declared, .. } => quote!(#declared),
            Output::NotResult(ty) => quote!(#ty),
            Output::Missing => quote!(()),
        };
        let site = cancel::Site {
            krate: &self.krate,
            crate_path,
            ctx: &self.ctx,
            ret,
        };
        let body = cancel::rewrite(&linted.block, &site, errors);
        (body, linted.errors)
    }

    /// The full definition of a correct fn.
    fn definition(&self, body: TokenStream) -> TokenStream {
        let type_decl = self.type_decl();
        let run = self.run(self.run_signature(), quote!(), body);
        let definition_impl = self.definition_impl(false);
        quote! {
            #type_decl
            #run
            #definition_impl
        }
    }

    /// What stands in for the definition when the signature is wrong: the same type, a `run`
    /// with the user's parameters, and the trait impl when its types can be written. Uses of the
    /// definition then compile, and the user sees only what is wrong with the fn.
    fn stub(&self) -> TokenStream {
        let type_decl = self.type_decl();
        let mut sig = self.run_signature();
        sig.constness = None;
        sig.unsafety = None;
        sig.abi = None;
        sig.variadic = None;
        sig.asyncness = Some(Default::default());
        let run = self.run(
            sig,
            quote!(#[allow(unused_variables)]),
            quote!({ ::core::unimplemented!() }),
        );
        let definition_impl = self.definition_impl(true);
        quote! {
            #type_decl
            #run
            #definition_impl
        }
    }

    fn type_decl(&self) -> TokenStream {
        let Generator { docs, cfgs, .. } = self;
        let vis = &self.def.item.vis;
        let ident = self.def.ident();
        // Located at the fn's name, so that rustc shows the user's fn where it points at the
        // type (an activity called like a function, a workflow that is not `Send`).
        let decl = quote_spanned!(ident.span()=> #vis struct #ident;);
        quote! {
            #(#cfgs)*
            #(#docs)*
            #[allow(non_camel_case_types)]
            #[derive(
                ::core::clone::Clone,
                ::core::marker::Copy,
                ::core::fmt::Debug,
                ::core::default::Default
            )]
            #decl
        }
    }

    /// The user's signature, renamed to `run`. A `_` context is given a hidden name, which
    /// `on_cancel!` needs in order to rebind it.
    fn run_signature(&self) -> Signature {
        let mut sig = self.def.item.sig.clone();
        sig.ident = Ident::new("run", sig.ident.span());
        if let Some(FnArg::Typed(first)) = sig.inputs.first_mut()
            && self.def.context.is_some()
            && matches!(*first.pat, Pat::Wild(_))
        {
            *first.pat = Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: self.ctx.clone(),
                subpat: None,
            });
        }
        sig
    }

    fn run(&self, sig: Signature, lints: TokenStream, body: TokenStream) -> TokenStream {
        let Generator {
            docs, cfgs, others, ..
        } = self;
        let vis = &self.def.item.vis;
        let ident = self.def.ident();
        let docs = if docs.is_empty() {
            let line = format!(
                " Runs the body of the `{}` {} directly, without a worker.",
                self.def.default_name(),
                self.def.kind.noun()
            );
            quote!(#[doc = #line])
        } else {
            quote!(#(#docs)*)
        };
        quote! {
            #(#cfgs)*
            impl #ident {
                #docs
                #(#others)*
                #lints
                #vis #sig #body
            }
        }
    }
}

mod definition_impl;

#[cfg(test)]
mod tests;
