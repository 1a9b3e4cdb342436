//! `#[derive(Trace)]` for `strata-gc`.
//!
//! Generates an `unsafe impl Trace` that forwards to every field (skipping
//! those marked `#[trace(skip)]`), with `MAY_CONTAIN_GC` true only if some
//! traced field may hold a `Gc`. `#[trace(finalize)]` on the type makes the
//! collector call its `Finalize` impl before destruction.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{parse_macro_input, parse_quote, Data, DeriveInput, Fields, Index};

#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Reads `#[trace(...)]` attributes; returns whether `word` was among them.
fn has_flag(attrs: &[syn::Attribute], word: &str) -> syn::Result<bool> {
    let mut found = false;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("trace")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(word) {
                found = true;
                Ok(())
            } else if meta.path.is_ident("skip") || meta.path.is_ident("finalize") {
                Err(meta.error("`skip` goes on fields, `finalize` on the type"))
            } else {
                Err(meta.error("expected `skip` (on a field) or `finalize` (on the type)"))
            }
        })?;
    }
    Ok(found)
}

/// For each traced field: its type and an expression naming it.
struct Traced {
    types: Vec<syn::Type>,
    body: TokenStream2,
}

fn traced_fields(
    fields: &Fields,
    access: impl Fn(usize, &syn::Field) -> TokenStream2,
) -> syn::Result<(Vec<syn::Type>, Vec<TokenStream2>)> {
    let mut types = Vec::new();
    let mut calls = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        if has_flag(&field.attrs, "skip")? {
            continue;
        }
        types.push(field.ty.clone());
        let place = access(index, field);
        calls.push(quote!(::strata_gc::Trace::trace(#place, visitor);));
    }
    Ok((types, calls))
}

fn binding(index: usize, field: &syn::Field) -> syn::Ident {
    match &field.ident {
        Some(name) => format_ident!("__field_{}", name),
        None => format_ident!("__field_{}", index),
    }
}

fn pattern(path: TokenStream2, fields: &Fields) -> TokenStream2 {
    let names = fields
        .iter()
        .enumerate()
        .map(|(index, field)| binding(index, field));
    match fields {
        Fields::Named(named) => {
            let idents = named.named.iter().map(|field| &field.ident);
            quote!(#path { #(#idents: #names),* })
        }
        Fields::Unnamed(_) => quote!(#path ( #(#names),* )),
        Fields::Unit => quote!(#path),
    }
}

fn traced(data: &Data) -> syn::Result<Traced> {
    match data {
        Data::Struct(data) => {
            let (types, calls) = traced_fields(&data.fields, |index, field| match &field.ident {
                Some(name) => quote!(&self.#name),
                None => {
                    let index = Index::from(index);
                    quote!(&self.#index)
                }
            })?;
            Ok(Traced {
                types,
                body: quote!(#(#calls)*),
            })
        }
        Data::Enum(data) => {
            let mut types = Vec::new();
            let mut arms = Vec::new();
            for variant in &data.variants {
                let (variant_types, calls) = traced_fields(&variant.fields, |index, field| {
                    let name = binding(index, field);
                    quote!(#name)
                })?;
                types.extend(variant_types);
                let name = &variant.ident;
                let pat = pattern(quote!(Self::#name), &variant.fields);
                arms.push(quote!(#[allow(unused_variables)] #pat => { #(#calls)* }));
            }
            Ok(Traced {
                types,
                body: quote!(match self { #(#arms)* }),
            })
        }
        Data::Union(data) => Err(syn::Error::new(
            data.union_token.span,
            "Trace cannot be derived for unions",
        )),
    }
}

/// Replaces the type being derived by `()` inside `ty`: a recursive field
/// (`Vec<Self>`) may hold a `Gc` only if another field may, and naming the
/// type's own constant inside itself would be a cycle.
fn without_self(ty: &mut syn::Type, name: &syn::Ident) {
    match ty {
        syn::Type::Path(path) => {
            if path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|segment| segment.ident == *name || segment.ident == "Self")
            {
                *ty = parse_quote!(());
                return;
            }
            for segment in &mut path.path.segments {
                if let syn::PathArguments::AngleBracketed(arguments) = &mut segment.arguments {
                    for argument in &mut arguments.args {
                        if let syn::GenericArgument::Type(inner) = argument {
                            without_self(inner, name);
                        }
                    }
                }
            }
        }
        syn::Type::Array(array) => without_self(&mut array.elem, name),
        syn::Type::Slice(slice) => without_self(&mut slice.elem, name),
        syn::Type::Paren(paren) => without_self(&mut paren.elem, name),
        syn::Type::Group(group) => without_self(&mut group.elem, name),
        syn::Type::Reference(reference) => without_self(&mut reference.elem, name),
        syn::Type::Tuple(tuple) => {
            for elem in &mut tuple.elems {
                without_self(elem, name);
            }
        }
        _ => {}
    }
}

fn expand(mut input: DeriveInput) -> syn::Result<TokenStream2> {
    let finalize = has_flag(&input.attrs, "finalize")?;
    let Traced { mut types, body } = traced(&input.data)?;
    for ty in &mut types {
        without_self(ty, &input.ident);
    }
    for param in input.generics.type_params_mut() {
        param.bounds.push(parse_quote!(::strata_gc::Trace));
    }
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let finalizer = finalize.then(|| {
        quote! {
            const FINALIZE: bool = true;
            fn run_finalizer(&self) {
                ::strata_gc::Finalize::finalize(self);
            }
        }
    });
    Ok(quote! {
        // SAFETY: forwards to each traced field's own implementation, so it
        // reports exactly the handles those fields report.
        unsafe impl #impl_generics ::strata_gc::Trace for #name #type_generics #where_clause {
            const MAY_CONTAIN_GC: bool = false #(|| <#types as ::strata_gc::Trace>::MAY_CONTAIN_GC)*;
            const REFERENCES_FIXED: bool = true #(&& <#types as ::strata_gc::Trace>::REFERENCES_FIXED)*;
            #[inline]
            #[allow(unused_variables)]
            fn trace(&self, visitor: &mut ::strata_gc::Visitor<'_>) {
                #body
            }
            #finalizer
        }
    })
}
