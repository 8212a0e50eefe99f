//! The definition trait impl: input and output types, name, default options, and the bodies
//! that encode, decode and run.

use super::Generator;
use crate::attr::ActivityOptionArgs;
use crate::diagnostics::respan;
use crate::model::{Kind, Output};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use std::time::Duration;
use syn::spanned::Spanned as _;
use syn::{Ident, LitStr, Type};

impl Generator<'_> {
    /// `impl WorkflowDefinition` or `impl ActivityDefinition`, inside a `const _` block with
    /// its helper. With `stub`, every method is `unimplemented!()`: the crate does not compile
    /// anyway, the impl only keeps the uses of the definition from failing too.
    pub(super) fn definition_impl(&self, stub: bool) -> TokenStream {
        let Some((arg_types, ok)) = self.def.io_types() else {
            return quote!();
        };
        let Generator {
            krate,
            private,
            cfgs,
            ..
        } = self;
        let ident = self.def.ident();
        let (definition_trait, ctx_type, error_type) = match self.def.kind {
            Kind::Workflow => (
                quote!(WorkflowDefinition),
                quote!(#krate::WorkflowContext),
                quote!(#krate::WorkflowError),
            ),
            Kind::Activity => (
                quote!(ActivityDefinition),
                quote!(#krate::ActivityContext),
                quote!(#krate::ActivityError),
            ),
        };
        let name = match &self.args.name {
            Some(name) => name.clone(),
            None => LitStr::new(&self.def.default_name(), ident.span()),
        };
        let input_type = match arg_types.as_slice() {
            [] => quote!(()),
            [one] => quote!(#one),
            many => quote!((#(#many),*)),
        };
        let options = match self.def.kind {
            Kind::Workflow => quote!(),
            Kind::Activity => {
                let options = activity_options(krate, private, &self.args.options);
                quote! {
                    fn options() -> #krate::ActivityOptions {
                        #options
                    }
                }
            }
        };
        let bodies = if stub {
            let unimplemented = quote!(::core::unimplemented!());
            [(); 3].map(|()| unimplemented.clone())
        } else {
            self.bodies(&arg_types, &error_type)
        };
        let [encode, decode, execute] = bodies;
        let raw = quote!(#private::RawPayload);
        let payload_error = quote!(#private::PayloadError);
        let input = Ident::new("__dacapo_input", Span::mixed_site());
        let payloads = Ident::new("__dacapo_payloads", Span::mixed_site());
        let ctx = Ident::new("__dacapo_ctx", Span::mixed_site());
        // A result type that is not a payload fails `Value` wherever the output type is
        // checked: in `type Output`, against the trait's bound on it, and in `execute`'s
        // signature and body. All of them are located at the user's result type, so that
        // rustc shows the failure once, there.
        let output = self.checked(ok);
        let output_item = quote_spanned!(ok.span()=> type Output = #output;);
        let private_at_ok = respan(private.clone(), ok.span());
        let execute_fn = quote_spanned! {ok.span()=>
            fn execute(
                #ctx: #ctx_type,
                #input: Self::Input,
            ) -> #private_at_ok::BoxFuture<::core::result::Result<#output, #error_type>> {
                #execute
            }
        };
        quote! {
            #(#cfgs)*
            const _: () = {
                impl #private::#definition_trait for #ident {
                    type Input = #input_type;
                    #output_item
                    const NAME: &'static str = #name;
                    #options
                    fn encode_input(
                        #input: &Self::Input,
                    ) -> ::core::result::Result<::std::vec::Vec<#raw>, #payload_error> {
                        #encode
                    }
                    fn decode_input(
                        #payloads: &[#raw],
                    ) -> ::core::result::Result<Self::Input, #payload_error> {
                        #decode
                    }
                    #execute_fn
                }
            };
        }
    }

    /// `ty` as `<ty as Value>::Checked`, located at `ty`: the type itself when it is a payload,
    /// and otherwise one error there, in dacapo's words, after which every use of the
    /// projection (encoding, decoding, the trait's bounds) is quiet.
    fn checked(&self, ty: &Type) -> TokenStream {
        let span = ty.span();
        let private = respan(self.private.clone(), span);
        quote_spanned!(span=> <#ty as #private::Value>::Checked)
    }

    /// The bodies of `encode_input`, `decode_input` and `execute`.
    fn bodies(&self, arg_types: &[&Type], error_type: &TokenStream) -> [TokenStream; 3] {
        let private = &self.private;
        let ident = self.def.ident();
        let input = Ident::new("__dacapo_input", Span::mixed_site());
        let payloads = Ident::new("__dacapo_payloads", Span::mixed_site());
        let ctx = Ident::new("__dacapo_ctx", Span::mixed_site());
        let args: Vec<Ident> = (0..arg_types.len())
            .map(|i| format_ident!("__dacapo_arg{}", i, span = Span::mixed_site()))
            .collect();
        let destructure = match args.as_slice() {
            [] => quote!(),
            [one] => quote!(let #one = #input;),
            many => quote!(let (#(#many),*) = #input;),
        };
        let encode_args = arg_types.iter().zip(&args).map(|(ty, arg)| {
            let checked = self.checked(ty);
            quote_spanned!(ty.span()=> #private::encode_arg::<#checked>(#arg)?)
        });
        let encode = quote! {
            #destructure
            ::core::result::Result::Ok(::std::vec![#(#encode_args),*])
        };
        let decode_args = arg_types.iter().enumerate().map(|(index, ty)| {
            let index = Literal::usize_unsuffixed(index);
            let checked = self.checked(ty);
            quote_spanned!(ty.span()=> #private::decode_arg::<#checked>(#payloads, #index))
        });
        let decode = match arg_types.len() {
            0 => quote!(::core::result::Result::Ok(())),
            // Returned as it is: `Ok(decode(..)?)` would be a needless `?`.
            1 => quote!(#(#decode_args)*),
            _ => quote!(::core::result::Result::Ok((#(#decode_args?),*))),
        };
        let ctx_arg = self.def.context.as_ref().map(|_| &ctx);
        let run_args = ctx_arg.into_iter().chain(&args);
        // Spanned at the user's error type, so that one that does not convert is reported
        // there.
        let error_span = match &self.def.output {
            Output::Result { err: Some(err), .. } => err.span(),
            Output::Result { declared, .. } => declared.span(),
            _ => Span::call_site(),
        };
        let error_type = respan(error_type.clone(), error_span);
        // The closure holds nothing of the user's, so the user's span (and hygiene) is safe for
        // its parameter. Its `|..|` stay generated, so lints do not take it for user code.
        let error = Ident::new("__dacapo_error", error_span);
        let convert =
            quote_spanned!(error_span=> ::core::convert::Into::<#error_type>::into(#error));
        let into = quote!(|#error| #convert);
        // Spanned at the fn's name, so that a body that is not `Send` is reported there, with
        // notes pointing into the body.
        let name_span = ident.span();
        let private_at_name = respan(private.clone(), name_span);
        let boxed = quote_spanned! {name_span=>
            #private_at_name::Box::pin(async move {
                ::core::result::Result::map_err(
                    #ident::run(#(#run_args),*).await,
                    #into,
                )
            })
        };
        let execute = quote! {
            #destructure
            #boxed
        };
        [encode, decode, execute]
    }
}

/// The activity's default options, built from `ActivityOptions::default()` with one builder
/// call per argument given.
fn activity_options(
    krate: &TokenStream,
    private: &TokenStream,
    options: &ActivityOptionArgs,
) -> TokenStream {
    let duration = |d: &Duration| {
        let secs = Literal::u64_unsuffixed(d.as_secs());
        if d.subsec_nanos() == 0 {
            quote!(#private::Duration::from_secs(#secs))
        } else {
            let nanos = Literal::u32_unsuffixed(d.subsec_nanos());
            quote!(#private::Duration::new(#secs, #nanos))
        }
    };
    let mut calls = Vec::new();
    let durations = [
        ("start_to_close", &options.start_to_close),
        ("schedule_to_close", &options.schedule_to_close),
        ("schedule_to_start", &options.schedule_to_start),
        ("heartbeat_timeout", &options.heartbeat_timeout),
    ];
    for (method, value) in durations {
        if let Some(value) = value {
            let method = Ident::new(method, value.span);
            let value = duration(&value.value);
            calls.push(quote!(.#method(#value)));
        }
    }
    if let Some(cancellation) = &options.cancellation {
        let variant = Ident::new(cancellation.value.variant(), cancellation.span);
        calls.push(quote!(.cancellation(#krate::Cancellation::#variant)));
    }
    if let Some(queue) = &options.task_queue {
        calls.push(quote!(.task_queue(#queue)));
    }
    if let Some(attempts) = &options.max_attempts {
        let attempts = Literal::i32_unsuffixed(attempts.value);
        calls.push(quote!(.max_attempts(#attempts)));
    }
    if let Some(initial) = &options.initial_interval {
        let value = duration(&initial.value);
        calls.push(quote!(.initial_interval(#value)));
    }
    if let Some(backoff) = &options.backoff {
        let backoff = Literal::f64_suffixed(backoff.value);
        calls.push(quote!(.backoff_coefficient(#backoff)));
    }
    if let Some(max) = &options.max_interval {
        let value = duration(&max.value);
        calls.push(quote!(.maximum_interval(#value)));
    }
    for error_type in &options.non_retryable {
        calls.push(quote!(.non_retryable_error_type(#error_type)));
    }
    quote! {
        <#krate::ActivityOptions as ::core::default::Default>::default()
            #(#calls)*
    }
}
