//! Writes the kustomize tree for a spec, as `computelocator k8s render` will:
//! `cargo run -p manifests --example render -- [SPEC (sized-sweep)] [OUT_DIR (k8s)]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let spec = args.next().unwrap_or_else(|| "sized-sweep".to_owned());
    let out = args.next().unwrap_or_else(|| "k8s".to_owned());
    let loaded = experiment::load(&spec, &std::env::current_dir()?)?;
    let options = manifests::RenderOptions::default();
    for path in manifests::write_kustomize(out.as_ref(), &loaded.spec, &options)? {
        println!("{}", path.display());
    }
    Ok(())
}
