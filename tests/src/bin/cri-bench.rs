//! The CRI rows of `bench/compare`: for one containerd release, RunPodSandbox and
//! StopPodSandbox wall times of each sandbox image, all in the same run (one private containerd
//! per image, as `tests/tests/cri.rs` runs them: the CRI takes its sandbox image from the
//! config), alternating the order run by run. Prints one JSON object on stdout.
//!
//!     cri-bench --containerd 1.6|1.7|2.x --runs N KEY=PATH...
//!
//! PATH is a docker-archive (`dist/images/x86_64.tar.gz`) or a static binary, which is packed
//! into a scratch image as `/KEY` (with no `User`) first.

use serde_json::json;
use sleeper_tests::cri::{Containerd, Release};
use sleeper_tests::image;
use std::path::{Path, PathBuf};

fn usage() -> ! {
    eprintln!("usage: cri-bench --containerd 1.6|1.7|2.x --runs N KEY=PATH...");
    std::process::exit(2)
}

/// A docker-archive of a static binary as `/KEY`, in `dir`.
fn archive_of(key: &str, binary: &Path, dir: &Path) -> Result<PathBuf, String> {
    let out = dir.join(format!("{key}.tar.gz"));
    let name = format!("sleeper-bench-{key}");
    image::single_binary_archive(&name, "bench", binary, &format!("/{key}"), "amd64", &out)?;
    Ok(out)
}

fn is_gzip(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(&[0x1f, 0x8b]))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut release, mut runs, mut images) = (None, 1, Vec::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--containerd" => release = it.next().cloned(),
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            image => match image.split_once('=') {
                Some((key, path)) => images.push((key.to_string(), PathBuf::from(path))),
                None => usage(),
            },
        }
    }
    let release = Release::named(&release.unwrap_or_else(|| usage())).unwrap_or_else(|e| {
        eprintln!("cri-bench: {e}");
        std::process::exit(2)
    });
    if images.is_empty() {
        usage();
    }
    match bench(&release, runs, &images) {
        Ok(result) => println!("{result}"),
        Err(e) => {
            eprintln!("cri-bench: containerd {}: {e}", release.name);
            std::process::exit(1)
        }
    }
}

fn scratch(label: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("sleeper-bench-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn bench(
    release: &Release,
    runs: usize,
    images: &[(String, PathBuf)],
) -> Result<serde_json::Value, String> {
    let archives_dir = scratch("cri-images")?;
    let result = (|| {
        let mut instances = Vec::new();
        for (key, path) in images {
            let archive = if is_gzip(path) {
                path.clone()
            } else {
                archive_of(key, path, &archives_dir)?
            };
            let reference = sleeper_tests::cri::image_reference(&archive)?;
            let containerd =
                Containerd::start(release, scratch(&format!("cri-{key}"))?, &reference)?;
            containerd.import(&archive, true)?;
            instances.push((key, containerd));
        }
        let mut figures: Vec<serde_json::Value> = images
            .iter()
            .map(|_| json!({"run_s": [], "stop_s": [], "exit": []}))
            .collect();
        // One untimed pod per instance first: no image's first run pays for cold caches.
        for (key, containerd) in &instances {
            let (pod, _) = containerd.run_pod(&format!("{key}-warm-up"), false)?;
            containerd.stop_pod(&pod.id)?;
            containerd.remove_pod(&pod.id)?;
        }
        for run in 0..runs {
            let mut order: Vec<usize> = (0..instances.len()).collect();
            if run % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let (key, containerd) = &instances[i];
                let (pod, run_took) = containerd.run_pod(&format!("{key}-{run}"), false)?;
                let (stop_took, exit) = containerd.stop_pod(&pod.id)?;
                containerd.remove_pod(&pod.id)?;
                let f = &mut figures[i];
                f["run_s"]
                    .as_array_mut()
                    .expect("array")
                    .push(run_took.as_secs_f64().into());
                f["stop_s"]
                    .as_array_mut()
                    .expect("array")
                    .push(stop_took.as_secs_f64().into());
                f["exit"].as_array_mut().expect("array").push(exit.into());
            }
        }
        let version = instances.first().map(|(_, c)| c.version.clone());
        for (_, mut containerd) in instances {
            containerd.shut_down()?;
        }
        let by_key: serde_json::Map<String, serde_json::Value> = images
            .iter()
            .map(|(key, _)| key.clone())
            .zip(figures)
            .collect();
        Ok(json!({"release": release.name, "version": version, "images": by_key}))
    })();
    let _ = std::fs::remove_dir_all(&archives_dir);
    result
}
