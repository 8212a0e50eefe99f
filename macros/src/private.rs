//! The name under which the runtime keeps what generated code uses: `__private_` followed by
//! this crate's version (`__private_0_1_0`). dacapo names its module after its own version, so
//! a dacapo-macros of another version fails to compile, at the first path it generates, instead
//! of generating code against a contract that may have changed.
//!
//! Every path the macros generate into that module is built here, from the crate version, so
//! that a new version changes all of them at once.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// `#krate::__private_<version>`: the runtime's support module, under `krate` (`::dacapo` or
/// the `crate = ".."` override).
pub(crate) fn path(krate: &TokenStream) -> TokenStream {
    let module = module();
    quote!(#krate::#module)
}

/// The support module's name for this crate's version.
pub(crate) fn module() -> Ident {
    Ident::new(&name(env!("CARGO_PKG_VERSION")), Span::call_site())
}

/// `__private_` and `version` with each byte that cannot be in an identifier replaced by `_`:
/// `0.1.0` gives `__private_0_1_0`, `0.2.0-rc.1` gives `__private_0_2_0_rc_1`. The runtime
/// checks its module's name by the same rule.
fn name(version: &str) -> String {
    let version: String = version
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect();
    format!("__private_{version}")
}

#[cfg(test)]
mod tests;
