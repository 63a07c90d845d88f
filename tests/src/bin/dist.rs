//! Builds every platform of `platforms.toml` into `dist/<name>/sleeper` and prints the sizes.
//! `--readme` also rewrites the size table in README.md from what was built.

use sleeper_tests::{build, platforms, readme};

fn main() {
    let platforms = platforms::load();
    let built = match build::dist(&platforms) {
        Ok(built) => built,
        Err(e) => {
            eprintln!("dist: {e}");
            std::process::exit(1);
        }
    };
    for (platform, path) in platforms.iter().zip(&built) {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{:<12} {:>4} B  (budget {:>4})  {}",
            platform.name,
            size,
            platform.size_budget,
            path.display()
        );
    }
    if std::env::args().any(|a| a == "--readme") {
        if let Err(e) = readme::update(&platforms) {
            eprintln!("dist: {e}");
            std::process::exit(1);
        }
        println!("README.md size table updated");
    }
}
