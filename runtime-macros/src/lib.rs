//! The `#[system]` attribute of the Fiasco runtime. Use it through `fiasco::system`.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, spanned::Spanned, FnArg, ItemFn};

/// Turns a function into a system constructor.
///
/// Every parameter must implement `fiasco::SystemParam` (`EventReader`,
/// `EventWriter`, `Res`, `ResMut`, `Frame`, ...). The function `name` becomes
/// `fn name() -> fiasco::System`, to pass to `Module::with_system`.
///
/// ```ignore
/// #[system]
/// fn handle_message_events(
///     reader: EventReader<MessageFromRemote<'_>>,
///     writer: EventWriter<MessageToRemote<'_>>,
/// ) { /* ... */ }
///
/// Module::new("agent").with_system(Stage::Update, handle_message_events())
/// ```
#[proc_macro_attribute]
pub fn system(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::TokenStream::from(attr).span(),
            "#[system] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let function = parse_macro_input!(item as ItemFn);
    match expand(function) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(function: ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    if let Some(receiver) = sig.receiver() {
        return Err(syn::Error::new(
            receiver.span(),
            "a system cannot take self",
        ));
    }
    if !sig
        .generics
        .params
        .iter()
        .all(|param| matches!(param, syn::GenericParam::Lifetime(_)))
    {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a system cannot be generic over types",
        ));
    }
    if sig.asyncness.is_some() {
        return Err(syn::Error::new(
            sig.span(),
            "a system cannot be async: it runs within a frame",
        ));
    }
    let name = &sig.ident;
    let name_text = name.to_string();
    let body_name = format_ident!("__fiasco_system_{}", name);
    let inputs = &sig.inputs;
    let generics = &sig.generics;
    let output = &sig.output;
    let fetches = sig
        .inputs
        .iter()
        .enumerate()
        .map(|(index, input)| match input {
            FnArg::Typed(_) => quote! { ::fiasco::SystemParam::fetch(__ctx, #index) },
            FnArg::Receiver(_) => quote! {},
        });
    Ok(quote! {
        #(#attrs)*
        #[must_use = "a system does nothing until added to a module"]
        #vis fn #name() -> ::fiasco::System {
            #[allow(clippy::needless_pass_by_value)]
            fn #body_name #generics (#inputs) #output #block
            ::fiasco::System::new(#name_text, |__ctx: &::fiasco::SystemContext<'_>| {
                let _ = #body_name(#(#fetches),*);
            })
        }
    })
}
