//! The image formats `scripts/oci-layout` writes for both build paths: each row's
//! docker-archive (`dist/images/`) against the declaration in `nix/image.nix`, and the
//! multi-arch OCI image layout (`dist/oci/`) read by podman 4.3, rebuilt, measured and pushed.

mod common;

use common::engine::Cli;
use common::podman::Podman;
use common::{TempDir, built, images};
use sleeper_tests::image::{
    self, DockerArchive, OciIndex, OciManifest, OciPlatform, blob, decompressed, json_blob,
    sha256_digest, tar_files, tree_files,
};
use sleeper_tests::platforms::{self, Platform};
use sleeper_tests::repo_root;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::Command;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The mtime of every layer entry: SOURCE_DATE_EPOCH of nixpkgs' stdenv, as dockerTools has it.
const NIX_EPOCH: u64 = 315_532_800;

fn oci_platform(platform: &Platform) -> OciPlatform {
    OciPlatform {
        os: platform.docker.os.clone(),
        architecture: platform.docker.architecture.clone(),
        variant: platform.docker.variant.clone(),
    }
}

/// The one layer of an image: exactly the root directory and the binary, owned by root,
/// with the binary's bytes. Returns an error naming what differs.
fn check_layer(layer: &[u8], binary_path: &str, binary: &Path) -> Result<(), String> {
    let expected = std::fs::read(binary).map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let header = entry.header().clone();
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .display()
            .to_string();
        let owner = (
            header.uid().map_err(|e| e.to_string())?,
            header.gid().map_err(|e| e.to_string())?,
            header.username().ok().flatten().map(str::to_string),
        );
        if owner != (0, 0, Some("root".into())) {
            return Err(format!("{path} is owned by {owner:?}"));
        }
        let mtime = header.mtime().map_err(|e| e.to_string())?;
        if mtime != NIX_EPOCH {
            return Err(format!("{path} has mtime {mtime}"));
        }
        let mode = header.mode().map_err(|e| e.to_string())?;
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(|e| e.to_string())?;
        seen.push((path.clone(), header.entry_type(), mode));
        if path == format!(".{binary_path}") && content != expected {
            return Err(format!("{path} is not {}", binary.display()));
        }
    }
    let wanted = vec![
        ("./".to_string(), tar::EntryType::Directory, 0o775),
        (format!(".{binary_path}"), tar::EntryType::Regular, 0o555),
    ];
    if seen != wanted {
        return Err(format!("the layer holds {seen:?}, not {wanted:?}"));
    }
    Ok(())
}

/// The drift test between the cargo path's archives and `nix/image.nix`, the declaration
/// nix/packages.nix hands to dockerTools.buildImage.
#[test]
fn every_archive_carries_what_nix_image_nix_declares() {
    let images = images();
    let declaration = &images.declaration;
    let podman = Podman::new();
    let mut failures = Vec::new();
    for ((platform, binary), archive) in built().iter().zip(&images.archives) {
        let check = || -> Result<(), String> {
            let read = DockerArchive::read(archive)?;
            let config = &read.config;
            let tag = format!("{}:{}", declaration.name, declaration.tag);
            if read.manifest.repo_tags != [tag.clone()] {
                return Err(format!("RepoTags {:?}, not {tag}", read.manifest.repo_tags));
            }
            for (field, wanted) in [
                ("architecture", &platform.docker.architecture),
                ("os", &platform.docker.os),
                ("created", &declaration.created),
            ] {
                if config[field] != *wanted {
                    return Err(format!("{field} is {}, not {wanted}", config[field]));
                }
            }
            // dockerTools adds an empty Env to the declared config; nothing else may differ.
            let mut container = config["config"].clone();
            let env = container.as_object_mut().and_then(|c| c.remove("Env"));
            if env != Some(serde_json::json!([])) {
                return Err(format!("Env is {env:?}, dockerTools writes []"));
            }
            if container != declaration.config {
                return Err(format!(
                    "config {container} differs from nix/image.nix's {}",
                    declaration.config
                ));
            }
            let [layer] = read.layers.as_slice() else {
                return Err(format!("{} layers, expected one", read.layers.len()));
            };
            if config["rootfs"]["diff_ids"] != serde_json::json!([sha256_digest(layer)]) {
                return Err(format!("diff_ids {}", config["rootfs"]["diff_ids"]));
            }
            check_layer(layer, &declaration.binary_path, binary)?;

            // And podman reads the same from it.
            let id = podman.load(archive)?;
            // podman 4.3 prints its JSON array for `--format {{json .}}` too: take it whole.
            let inspected = podman.run(&["image", "inspect", &id])?;
            let inspected: serde_json::Value =
                serde_json::from_str(&inspected).map_err(|e| e.to_string())?;
            let inspected = &inspected[0];
            let seen = (
                &inspected["Architecture"],
                &inspected["Config"]["User"],
                &inspected["Config"]["Entrypoint"],
                &inspected["Config"]["Labels"],
            );
            let wanted = (
                &serde_json::json!(platform.docker.architecture),
                &declaration.config["User"],
                &declaration.config["Entrypoint"],
                &declaration.config["Labels"],
            );
            if seen != wanted {
                return Err(format!("podman sees {seen:?}, not {wanted:?}"));
            }
            Ok(())
        };
        if let Err(e) = check() {
            failures.push(format!("{}: {e}", platform.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(declaration.config["User"], "65534:65534");
}

/// index.json names one image index by the tag; that index lists every row's manifest with
/// its platform (variant included) and no tag of its own, and each manifest's config and
/// layer say and hold what the row's archive does.
#[test]
fn the_layout_nests_one_index_listing_every_platform() {
    let images = images();
    let layout = &images.layout;
    let top: OciIndex = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap())
        .expect("index.json");
    let [entry] = top.manifests.as_slice() else {
        panic!("index.json lists {} entries, not one", top.manifests.len());
    };
    assert_eq!(entry.media_type, INDEX);
    assert_eq!(entry.digest, images.index_digest);
    let tag = entry.annotations.as_ref().and_then(|a| a.get(REF_NAME));
    assert_eq!(tag, Some(&images.declaration.tag));
    let oci_layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(oci_layout["imageLayoutVersion"], "1.0.0");

    let nested: OciIndex = json_blob(layout, &entry.digest).unwrap();
    assert_eq!(nested.media_type.as_deref(), Some(INDEX));
    assert_eq!(nested.manifests.len(), built().len());
    for ((platform, binary), descriptor) in built().iter().zip(&nested.manifests) {
        let name = &platform.name;
        assert_eq!(descriptor.media_type, MANIFEST, "{name}");
        assert_eq!(descriptor.platform, Some(oci_platform(platform)), "{name}");
        assert_eq!(descriptor.annotations, None, "{name}: a tag per platform");
        let manifest: OciManifest = json_blob(layout, &descriptor.digest).unwrap();
        assert_eq!(manifest.schema_version, 2);
        let config: serde_json::Value = json_blob(layout, &manifest.config.digest).unwrap();
        let said = OciPlatform {
            os: config["os"].as_str().unwrap_or_default().into(),
            architecture: config["architecture"].as_str().unwrap_or_default().into(),
            variant: config["variant"].as_str().map(str::to_string),
        };
        assert_eq!(said, oci_platform(platform), "{name}: the config");
        let [layer] = manifest.layers.as_slice() else {
            panic!("{name}: {} layers", manifest.layers.len());
        };
        assert_eq!(layer.media_type, LAYER, "{name}");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(blob(layout, &layer.digest).unwrap().as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!([sha256_digest(&tar)])
        );
        check_layer(&tar, &images.declaration.binary_path, binary)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// podman picks each row's own image from the layout by --platform: its config says the
/// row's architecture and variant, and its binary (`/pause`) is the row's binary.
#[test]
fn podman_pulls_each_platforms_own_image_from_the_layout() {
    let images = images();
    let podman = Podman::new();
    let source = format!("oci:{}:{}", images.layout.display(), images.declaration.tag);
    let mut failures = Vec::new();
    for (platform, binary) in built() {
        let check = || -> Result<(), String> {
            let spec = platform.docker.spec();
            let id = podman.run(&["pull", "--quiet", "--platform", &spec, &source])?;
            // podman 4.3 does not show a variant; the image ID is the config's digest.
            let config: serde_json::Value = json_blob(&images.layout, &format!("sha256:{id}"))?;
            let said = OciPlatform {
                os: config["os"].as_str().unwrap_or_default().into(),
                architecture: config["architecture"].as_str().unwrap_or_default().into(),
                variant: config["variant"].as_str().map(str::to_string),
            };
            if said != oci_platform(platform) {
                return Err(format!("--platform {spec} gave an image for {said:?}"));
            }
            let container = podman.run(&["create", &id])?;
            let copy = podman.dir().join(&platform.name);
            let from = format!("{container}:{}", images.declaration.binary_path);
            podman.run(&["cp", &from, &copy.to_string_lossy()])?;
            if std::fs::read(&copy).map_err(|e| e.to_string())?
                != std::fs::read(binary).map_err(|e| e.to_string())?
            {
                return Err(format!("its {from} is not {}", binary.display()));
            }
            eprintln!("{spec:<16} -> image {}", &id[..12]);
            Ok(())
        };
        if let Err(e) = check() {
            failures.push(format!("{}: {e}", platform.name));
        }
    }
    // The control: a platform the layout lacks is refused, not answered with another image.
    let absent = podman.output(&["pull", "--quiet", "--platform", "linux/sparc64", &source]);
    assert!(
        !absent.unwrap().status.success(),
        "linux/sparc64 was pulled"
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_layout_is_byte_reproducible() {
    let images = images();
    let scratch = TempDir::new("layout");
    let pairs: Vec<(&Platform, &Path)> = built()
        .iter()
        .zip(&images.archives)
        .map(|((platform, _), archive)| (platform, archive.as_path()))
        .collect();
    let tag = &images.declaration.tag;
    let first = image::index(&pairs, tag, &scratch.0.join("first")).unwrap();
    let second = image::index(&pairs, tag, &scratch.0.join("second")).unwrap();
    assert_eq!(first, second);
    assert_eq!(first, images.index_digest);
    let files = tree_files(&scratch.0.join("first")).unwrap();
    assert_eq!(files, tree_files(&scratch.0.join("second")).unwrap());
    assert_eq!(files, tree_files(&images.layout).unwrap());
    eprintln!(
        "index {first}, the same in three builds ({} files)",
        files.len()
    );
}

#[test]
fn the_layout_is_within_its_budget() {
    let size = image::tree_size(&images().layout).unwrap();
    let budget = platforms::multiarch().layout_budget;
    eprintln!("dist/oci: {size} bytes in all, layout-budget {budget}");
    assert!(size <= budget, "dist/oci is {size} bytes, over {budget}");
}

#[test]
fn the_index_refuses_an_archive_for_another_architecture() {
    let (x86_64, archive) = built()
        .iter()
        .zip(&images().archives)
        .find(|((p, _), _)| p.name == "x86_64")
        .map(|((p, _), a)| (p, a))
        .expect("an x86_64 row");
    let mut arm64 = x86_64.clone();
    arm64.docker.architecture = "arm64".into();
    let scratch = TempDir::new("refused");
    let out = scratch.0.join("layout");
    let error = image::index(&[(&arm64, archive)], "t", &out).unwrap_err();
    assert!(error.contains("not for linux/arm64"), "{error}");
    assert!(!out.exists(), "a failed index left {}", out.display());
    // And the same archive for its own platform is accepted.
    image::index(&[(x86_64, archive)], "t", &out).unwrap();
}

/// `oci-layout push` to a local OCI layout: every platform arrives, variants included, with
/// the very manifests of dist/oci.
#[test]
fn push_delivers_every_platform_with_its_variant() {
    let images = images();
    let tag = &images.declaration.tag;
    let scratch = TempDir::new("push");
    let pushed = scratch.0.join("pushed");
    let output = Command::new("bash")
        .arg(repo_root().join(image::SCRIPT))
        .arg("push")
        .arg(format!("{}:{tag}", images.layout.display()))
        .arg(format!("oci:{}:{tag}", pushed.display()))
        .env(
            "CONTAINERS_CONF",
            repo_root().join("scripts/containers.conf"),
        )
        .output()
        .expect("bash");
    assert!(
        output.status.success(),
        "push: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let listed = |layout: &Path| -> BTreeSet<(String, Option<OciPlatform>)> {
        let top: OciIndex =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let entry = top
            .manifests
            .iter()
            .find(|d| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)) == Some(tag))
            .unwrap_or_else(|| panic!("{} has no {tag}", layout.display()));
        let nested: OciIndex = json_blob(layout, &entry.digest).unwrap();
        nested
            .manifests
            .into_iter()
            .map(|d| (d.digest, d.platform))
            .collect()
    };
    let arrived = listed(&pushed);
    assert_eq!(arrived.len(), built().len());
    assert_eq!(arrived, listed(&images.layout));
    let variants: Vec<_> = arrived
        .iter()
        .filter_map(|(_, p)| p.as_ref()?.variant.clone())
        .collect();
    eprintln!("pushed {} platforms, variants {variants:?}", arrived.len());
    // Each pushed manifest's layer is there too, and unpacks to a tar.
    for (digest, _) in &arrived {
        let manifest: OciManifest = json_blob(&pushed, digest).unwrap();
        for layer in &manifest.layers {
            let bytes = blob(&pushed, &layer.digest).unwrap();
            let file = scratch.0.join("layer");
            std::fs::write(&file, bytes).unwrap();
            tar_files(&decompressed(&file).unwrap()).unwrap();
        }
    }
}

/// The bytes dockerTools.buildImage writes, which give its digests (dockertools-replay proves
/// the whole match; this catches a regression without it): the layer's root is 0775
/// (mkPureLayer's `chmod ug+w` of a 0555 store directory), and the config is jq's
/// pretty-printed output with keys in the order buildImage adds them and `echo`'s newline,
/// named by the sha256 of those bytes.
#[test]
fn the_x86_64_archive_has_the_bytes_dockertools_writes() {
    let images = images();
    let row = built()
        .iter()
        .position(|(p, _)| p.name == "x86_64")
        .expect("an x86_64 row");
    let archive = &images.archives[row];
    let files = tar_files(&decompressed(archive).unwrap()).unwrap();
    let read = DockerArchive::read(archive).unwrap();

    let mut layer = tar::Archive::new(read.layers[0].as_slice());
    let root = layer.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(root.path().unwrap().to_string_lossy(), "./");
    assert_eq!(
        root.header().mode().unwrap(),
        0o775,
        "the layer's root mode"
    );

    let config = &files[&read.manifest.config];
    assert_eq!(
        format!(
            "{}.json",
            sha256_digest(config).trim_start_matches("sha256:")
        ),
        read.manifest.config,
        "the config is named by the sha256 of its bytes"
    );
    let text = std::str::from_utf8(config).unwrap();
    assert!(
        text.starts_with("{\n  \"architecture\": \"amd64\",\n  \"config\": {\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\n  ]\n}\n"),
        "ends with history and a newline: {text}"
    );
    // Top-level keys: the lines indented by exactly two spaces.
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("  \""))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(
        keys,
        [
            "architecture",
            "config",
            "created",
            "os",
            "preferLocalBuild",
            "rootfs",
            "history"
        ]
    );
    let user = text.find("\"User\"").expect("User");
    let env = text.find("\"Env\"").expect("Env");
    assert!(
        user < env,
        "Env is added after the sorted declared keys: {text}"
    );
}
