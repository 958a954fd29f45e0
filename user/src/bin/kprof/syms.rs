//! Kernel text symbols from /proc/kallsyms, for turning addresses into names.

use std::fs;

#[derive(Debug, Clone, PartialEq)]
pub struct Sym {
    pub addr: u64,
    /// As in kallsyms (Rust names mangled).
    pub name: String,
    /// Module, or "" for the kernel image.
    pub module: String,
}

impl Sym {
    /// Rust names demangled without their hashes; others as they are.
    pub fn pretty(&self) -> String {
        match rustc_demangle::try_demangle(&self.name) {
            Ok(d) => format!("{d:#}"),
            Err(_) => self.name.clone(),
        }
    }
}

pub struct Table {
    /// Text symbols sorted by address.
    syms: Vec<Sym>,
}

impl Table {
    pub fn load() -> Result<Table, String> {
        let text = fs::read_to_string("/proc/kallsyms").map_err(|e| format!("/proc/kallsyms: {e}"))?;
        let t = Table::parse(&text);
        if t.syms.iter().all(|s| s.addr == 0) {
            return Err("/proc/kallsyms shows no addresses (kptr_restrict; run as root)".into());
        }
        Ok(t)
    }

    pub fn parse(text: &str) -> Table {
        let mut syms: Vec<Sym> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let ty = f.next()?;
                let name = f.next()?;
                if !matches!(ty, "t" | "T") {
                    return None;
                }
                let module = f.next().map(|m| m.trim_matches(|c| c == '[' || c == ']').to_string()).unwrap_or_default();
                Some(Sym { addr, name: name.to_string(), module })
            })
            .collect();
        syms.sort_by_key(|s| s.addr);
        Table { syms }
    }

    /// Index of the symbol containing `addr` (the last one starting at or below it).
    pub fn find(&self, addr: u64) -> Option<usize> {
        match self.syms.partition_point(|s| s.addr <= addr) {
            0 => None,
            i => Some(i - 1),
        }
    }

    pub fn get(&self, i: usize) -> &Sym {
        &self.syms[i]
    }

    /// Symbols of `module` whose demangled name contains `pat`, best first: a function
    /// named exactly `pat` (last path segment, generics aside) before the others
    /// (`listing_reply` before `listing_reply::{closure#1}`), then shorter names.
    pub fn matching(&self, module: &str, pat: &str) -> Vec<usize> {
        let mut v: Vec<(bool, usize, usize)> = (0..self.syms.len())
            .filter(|&i| self.syms[i].module == module)
            .filter_map(|i| {
                let p = self.syms[i].pretty();
                if !p.contains(pat) {
                    return None;
                }
                let base = p.split("::<").next().unwrap_or(&p);
                let exact = base == pat || base.ends_with(&format!("::{pat}"));
                Some((!exact, p.len(), i))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, _, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81001000 t do_one_initcall
ffffffff81002000 D some_data
ffffffffc0300000 t _RNvNtNtCsbo0XAK5cBcq_6khttpd4kmod7content10file_reply\t[khttpd]
ffffffffc0300100 t rust_helper_kmalloc\t[khttpd]
ffffffffc0300200 t _RNCNvNtNtCsbo0XAK5cBcq_6khttpd4kmod7content13listing_replys_0B7_\t[khttpd]
ffffffffc0300300 t _RNvNtNtCsbo0XAK5cBcq_6khttpd4kmod7content13listing_reply\t[khttpd]
";

    #[test]
    fn lookup_and_names() {
        let t = Table::parse(KALLSYMS);
        assert_eq!(t.find(0xffffffff80000000), None);
        assert_eq!(t.get(t.find(0xffffffff81001234).unwrap()).name, "do_one_initcall");
        // Data symbols are not text: the address belongs to the text symbol before it.
        assert_eq!(t.get(t.find(0xffffffff81002010).unwrap()).name, "do_one_initcall");
        let i = t.find(0xffffffffc0300042).unwrap();
        assert_eq!(t.get(i).module, "khttpd");
        assert_eq!(t.get(i).pretty(), "khttpd::kmod::content::file_reply");
        assert_eq!(t.matching("khttpd", "file_reply"), [i]);
        assert_eq!(t.matching("khttpd", "kmalloc").len(), 1);
        assert!(t.matching("", "file_reply").is_empty());
        // The function itself before its closures, wherever kallsyms lists it.
        let m = t.matching("khttpd", "listing_reply");
        assert_eq!(m.len(), 2);
        assert_eq!(t.get(m[0]).pretty(), "khttpd::kmod::content::listing_reply");
    }
}
