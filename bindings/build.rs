// Rebuild when the generated bindings change (they are regenerated per kernel).
fn main() {
    println!("cargo:rerun-if-env-changed=KMODS_BINDINGS");
    if let Ok(p) = std::env::var("KMODS_BINDINGS") {
        println!("cargo:rerun-if-changed={p}");
    }
}
