//! The `module!` procedural macro: one declaration gives a module its `.modinfo`
//! entries, its parameters and its `init_module`/`cleanup_module` entry points.
//!
//! ```ignore
//! kernel::module! {
//!     type: Kecho,
//!     name: "kecho",
//!     author: "The kmods-rs developers",
//!     description: "TCP echo server",
//!     license: "Dual MIT/GPL",
//!     params: {
//!         port: u16 { default: 12345, permissions: 0o444, description: "TCP port" },
//!         root: str { default: "/var/www/html", permissions: 0o444, description: "Served directory" },
//!     },
//! }
//! ```
//! Parameters are read as `crate::params::port.get()`. Parameter types: `u16`
//! (ushort), `i32` (int), `u32` (uint), `bool`, `str` (charp, read-only).
//! The module crate needs `#![feature(used_with_arg)]`. Module crates deny `unsafe_code`;
//! the only unsafe-marked constructs they contain are the ones this macro generates
//! (`#[no_mangle]` entry points, `#[link_section]` statics the loader reads), each with
//! `#[allow(unsafe_code)]`: they are the module ABI, not code that can be misused.

use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

/// Declares a kernel module; see the crate documentation.
#[proc_macro]
pub fn module(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(s) => s.parse().expect("module!: generated code does not parse"),
        Err(msg) => format!("compile_error!({:?});", format!("module!: {msg}")).parse().unwrap(),
    }
}

struct Param {
    name: String,
    ty: String,
    default: String,
    perm: u32,
    description: String,
}

struct Info {
    ty: Option<String>,
    name: Option<String>,
    author: Option<String>,
    description: Option<String>,
    license: Option<String>,
    params: Vec<Param>,
}

fn expand(input: TokenStream) -> Result<String, String> {
    let info = parse(input)?;
    let ty = info.ty.ok_or("missing `type`")?;
    let name = info.name.ok_or("missing `name`")?;
    let license = info.license.ok_or("missing `license`")?;
    let mut out = String::new();
    let mut modinfo = vec![format!("license={license}")];
    if let Some(a) = &info.author {
        modinfo.push(format!("author={a}"));
    }
    if let Some(d) = &info.description {
        modinfo.push(format!("description={d}"));
    }
    out.push_str("#[allow(non_upper_case_globals)]\npub mod params {\n");
    for p in &info.params {
        let (rust_ty, default) = match p.ty.as_str() {
            "str" => ("kernel::param::CharP".to_string(), format!("kernel::param::CharP::from_static(c{})", p.default)),
            "u16" | "i32" | "u32" | "bool" => (p.ty.clone(), p.default.clone()),
            other => return Err(format!("parameter `{}`: unsupported type `{other}`", p.name)),
        };
        out.push_str(&format!(
            "    #[doc = {desc:?}]\n    pub static {n}: kernel::param::Param<{rust_ty}> = kernel::param::Param::new({default});\n",
            desc = p.description,
            n = p.name
        ));
    }
    out.push_str("}\n");
    let mut descriptors = Vec::new();
    for p in &info.params {
        let ctype = match p.ty.as_str() {
            "u16" => "ushort",
            "i32" => "int",
            "u32" => "uint",
            "bool" => "bool",
            "str" => "charp",
            _ => unreachable!(),
        };
        if p.ty == "str" && p.perm & 0o222 != 0 {
            return Err(format!("string parameter `{}` must be read-only (permissions 0o444)", p.name));
        }
        if p.perm & 0o002 != 0 {
            return Err(format!("parameter `{}`: world-writable permissions", p.name));
        }
        modinfo.push(format!("parmtype={}:{}", p.name, ctype));
        modinfo.push(format!("parm={}:{}", p.name, p.description));
        descriptors.push(format!(
            "kernel::param::ParamDescriptor::new(c\"{n}\", {perm:#o}, &params::{n})",
            n = p.name,
            perm = p.perm
        ));
    }
    // One array, not one static per parameter: the kernel reads `__param` as a packed
    // array, and separate statics may be padded apart by the compiler's data alignment.
    if !descriptors.is_empty() {
        out.push_str(&format!(
            "#[allow(unsafe_code)]\n#[used(compiler)]\n#[link_section = \"__param\"]\nstatic __KMODS_PARAMS: [kernel::param::ParamDescriptor; {}] = [{}];\n",
            descriptors.len(),
            descriptors.join(", ")
        ));
    }
    for (i, entry) in modinfo.iter().enumerate() {
        if entry.contains('\0') {
            return Err("modinfo strings cannot contain NUL".into());
        }
        let bytes = entry.len() + 1;
        out.push_str(&format!(
            "#[allow(unsafe_code)]\n#[used(compiler)]\n#[link_section = \".modinfo\"]\nstatic __KMODS_MODINFO_{i}: [u8; {bytes}] = *b{lit};\n",
            lit = byte_lit(entry)
        ));
    }
    out.push_str(&format!(
        "static __KMODS_MODULE: kernel::module::ModuleSlot<{ty}> = kernel::module::ModuleSlot::new();\n\
         /// Called by the kernel at insmod.\n\
         #[allow(unsafe_code)]\n\
         #[no_mangle]\n\
         pub extern \"C\" fn init_module() -> core::ffi::c_int {{ __KMODS_MODULE.init() }}\n\
         /// Called by the kernel at rmmod.\n\
         #[allow(unsafe_code)]\n\
         #[no_mangle]\n\
         pub extern \"C\" fn cleanup_module() {{ __KMODS_MODULE.exit() }}\n\
         // The kernel calls the entry points through pointers: reference them from the\n\
         // sections C's module_init/module_exit use, so objtool (IBT) keeps their ENDBR.\n\
         #[allow(unsafe_code)]\n\
         #[used(compiler)]\n\
         #[link_section = \".init.data\"]\n\
         static __KMODS_INIT_ADDR: extern \"C\" fn() -> core::ffi::c_int = init_module;\n\
         #[allow(unsafe_code)]\n\
         #[used(compiler)]\n\
         #[link_section = \".exit.data\"]\n\
         static __KMODS_EXIT_ADDR: extern \"C\" fn() = cleanup_module;\n\
         /// The module's name, as given to `module!`.\n\
         pub const MODULE_NAME: &str = {name:?};\n"
    ));
    Ok(out)
}

fn byte_lit(s: &str) -> String {
    let mut lit = String::from("\"");
    for b in s.bytes().chain(core::iter::once(0u8)) {
        match b {
            b'"' => lit.push_str("\\\""),
            b'\\' => lit.push_str("\\\\"),
            0x20..=0x7e => lit.push(b as char),
            _ => lit.push_str(&format!("\\x{b:02x}")),
        }
    }
    lit.push('"');
    lit
}

fn parse(input: TokenStream) -> Result<Info, String> {
    let mut info = Info { ty: None, name: None, author: None, description: None, license: None, params: Vec::new() };
    let mut it = input.into_iter().peekable();
    while let Some(tt) = it.next() {
        let key = match tt {
            TokenTree::Ident(i) => i.to_string(),
            TokenTree::Punct(p) if p.as_char() == ',' => continue,
            other => return Err(format!("expected a key, found `{other}`")),
        };
        expect_punct(it.next(), ':')?;
        match key.as_str() {
            "type" => info.ty = Some(take_until_comma(&mut it)),
            "name" => info.name = Some(string_lit(it.next())?),
            "author" => info.author = Some(string_lit(it.next())?),
            "description" => info.description = Some(string_lit(it.next())?),
            "license" => info.license = Some(string_lit(it.next())?),
            "params" => match it.next() {
                Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => info.params = parse_params(g)?,
                _ => return Err("`params` takes a `{ ... }` block".into()),
            },
            other => return Err(format!("unknown key `{other}`")),
        }
    }
    Ok(info)
}

fn parse_params(g: Group) -> Result<Vec<Param>, String> {
    let mut params = Vec::new();
    let mut it = g.stream().into_iter().peekable();
    while let Some(tt) = it.next() {
        let name = match tt {
            TokenTree::Ident(i) => i.to_string(),
            TokenTree::Punct(p) if p.as_char() == ',' => continue,
            other => return Err(format!("expected a parameter name, found `{other}`")),
        };
        expect_punct(it.next(), ':')?;
        let ty = match it.next() {
            Some(TokenTree::Ident(i)) => i.to_string(),
            _ => return Err(format!("parameter `{name}`: expected a type")),
        };
        let body = match it.next() {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
            _ => return Err(format!("parameter `{name}`: expected `{{ default: ..., description: ... }}`")),
        };
        let mut p = Param { name: name.clone(), ty, default: String::new(), perm: 0o444, description: String::new() };
        let mut bit = body.stream().into_iter().peekable();
        while let Some(tt) = bit.next() {
            let key = match tt {
                TokenTree::Ident(i) => i.to_string(),
                TokenTree::Punct(p) if p.as_char() == ',' => continue,
                other => return Err(format!("parameter `{name}`: unexpected `{other}`")),
            };
            expect_punct(bit.next(), ':')?;
            match key.as_str() {
                "default" => p.default = take_until_comma(&mut bit),
                "permissions" => {
                    let v = take_until_comma(&mut bit);
                    let v = v.trim_start_matches("0o");
                    p.perm = u32::from_str_radix(v, 8).map_err(|_| format!("parameter `{name}`: bad permissions"))?;
                }
                "description" => p.description = string_lit(bit.next())?,
                other => return Err(format!("parameter `{name}`: unknown key `{other}`")),
            }
        }
        if p.default.is_empty() || p.description.is_empty() {
            return Err(format!("parameter `{name}` needs `default` and `description`"));
        }
        params.push(p);
    }
    Ok(params)
}

fn expect_punct(tt: Option<TokenTree>, c: char) -> Result<(), String> {
    match tt {
        Some(TokenTree::Punct(p)) if p.as_char() == c => Ok(()),
        other => Err(format!("expected `{c}`, found `{}`", other.map(|t| t.to_string()).unwrap_or_default())),
    }
}

fn take_until_comma(it: &mut std::iter::Peekable<proc_macro::token_stream::IntoIter>) -> String {
    let mut s = String::new();
    while let Some(tt) = it.peek() {
        if let TokenTree::Punct(p) = tt {
            if p.as_char() == ',' {
                break;
            }
        }
        s.push_str(&it.next().map(|t| t.to_string()).unwrap_or_default());
        s.push(' ');
    }
    s.trim().to_string()
}

fn string_lit(tt: Option<TokenTree>) -> Result<String, String> {
    match tt {
        Some(TokenTree::Literal(l)) => {
            let s = l.to_string();
            if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
                Ok(unescape(&s[1..s.len() - 1]))
            } else {
                Err(format!("expected a string literal, found {s}"))
            }
        }
        _ => Err("expected a string literal".into()),
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}
