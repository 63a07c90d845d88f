//! Builds every platform of `platforms.toml` into `dist/<name>/sleeper`, its image into
//! `dist/images/<name>.tar.gz` and the multi-arch OCI layout of all of them into `dist/oci/`,
//! and prints the sizes. `--readme` also rewrites the size table and the index digest in README.md.

use sleeper_tests::{build, image, platforms, readme};

fn fail(e: String) -> ! {
    eprintln!("dist: {e}");
    std::process::exit(1);
}

fn main() {
    let platforms = platforms::load();
    let built = build::dist(&platforms).unwrap_or_else(|e| fail(e));
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

    let rows: Vec<_> = platforms.iter().cloned().zip(built).collect();
    let images = image::dist_images(&rows).unwrap_or_else(|e| fail(e));
    for (platform, path) in platforms.iter().zip(&images.archives) {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{:<12} {:>4} B  (budget {:>4})  {}  {}",
            platform.name,
            size,
            platform.image_budget,
            path.display(),
            platform.docker.spec()
        );
    }
    let layout_size = image::tree_size(&images.layout).unwrap_or_else(|e| fail(e));
    println!(
        "{:<12} {:>4} B  (budget {:>4})  {}:{}  index {}",
        "multiarch",
        layout_size,
        platforms::multiarch().layout_budget,
        images.layout.display(),
        images.declaration.tag,
        images.index_digest
    );

    if std::env::args().any(|a| a == "--readme") {
        readme::update(&platforms, &images.index_digest).unwrap_or_else(|e| fail(e));
        println!("README.md size table and index digest updated");
    }
}
