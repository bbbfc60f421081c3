//! Rewrites `src/generated.rs` from the k8s-pb sources: `kubeschema-gen <k8s-pb src dir>`.

fn main() -> std::process::ExitCode {
    let Some(src) = std::env::args().nth(1) else {
        eprintln!("usage: kubeschema-gen <path of k8s-pb-0.9.0/src>");
        return std::process::ExitCode::from(2);
    };
    match kubeschema::gen::generate(std::path::Path::new(&src)) {
        Ok(text) => {
            let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/generated.rs");
            if let Err(e) = std::fs::write(&out, text) {
                eprintln!("writing {}: {e}", out.display());
                return std::process::ExitCode::FAILURE;
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
