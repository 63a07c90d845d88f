//! The images of the cargo path, made by `scripts/oci-layout` (the script the Nix build runs
//! too): a docker-archive per row in `dist/images/<name>.tar.gz`, as `dockerTools.buildImage`
//! makes from `nix/image.nix`, and the multi-arch OCI image layout of all rows in `dist/oci/`.

use crate::build::run;
use crate::platforms::Platform;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The script both build paths use.
pub const SCRIPT: &str = "scripts/oci-layout";

/// `nix/image.nix`: what every row's image holds and says.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Declaration {
    pub name: String,
    pub tag: String,
    pub created: String,
    pub binary_path: String,
    /// The container config, kept as JSON: it is compared whole with what images carry.
    pub config: serde_json::Value,
}

/// `nix/image.nix` evaluated by Nix, as JSON text.
pub fn declaration_json() -> Result<String, String> {
    run(Command::new("nix-instantiate")
        .current_dir(crate::repo_root())
        .args([
            "--eval",
            "--strict",
            "--json",
            "-E",
            "import ./nix/image.nix { }",
        ]))
}

pub fn declaration() -> Result<Declaration, String> {
    parse_declaration(&declaration_json()?)
}

fn parse_declaration(json: &str) -> Result<Declaration, String> {
    serde_json::from_str(json).map_err(|e| format!("nix/image.nix: {e}"))
}

/// What `dist_images` wrote.
#[derive(Debug, Clone)]
pub struct Images {
    pub declaration: Declaration,
    /// `dist/images/<name>.tar.gz`, in the order of the platforms.
    pub archives: Vec<PathBuf>,
    /// `dist/oci`, tagged with the declaration's tag.
    pub layout: PathBuf,
    /// The digest of the layout's image index (`sha256:...`).
    pub index_digest: String,
}

fn script() -> Command {
    let mut command = Command::new("bash");
    command.arg(crate::repo_root().join(SCRIPT));
    command
}

/// `oci-layout archive`: a docker-archive of `binary` for the Go `architecture`, declared by
/// `image_json` (the shape of `nix/image.nix`).
pub fn archive(
    binary: &Path,
    architecture: &str,
    image_json: &Path,
    out: &Path,
) -> Result<(), String> {
    run(script()
        .arg("archive")
        .arg("--binary")
        .arg(binary)
        .args(["--architecture", architecture])
        .arg("--image-json")
        .arg(image_json)
        .arg("--out")
        .arg(out))
    .map(drop)
}

/// A docker-archive of one static `binary` as `binary_path`, its entrypoint, tagged
/// `name:tag` and written to `dir/<file stem>.tar.gz`: the images the tests and the benchmark
/// run beside sleeper's (a busybox member, the `pause()`-loop control).
pub fn single_binary_archive(
    name: &str,
    tag: &str,
    binary: &Path,
    binary_path: &str,
    architecture: &str,
    out: &Path,
) -> Result<(), String> {
    let declaration = serde_json::json!({
        "name": name,
        "tag": tag,
        "created": "1970-01-01T00:00:01Z",
        "binaryPath": binary_path,
        "config": { "Entrypoint": [binary_path] },
    });
    let json = out.with_extension("json");
    std::fs::write(&json, declaration.to_string()).map_err(|e| e.to_string())?;
    archive(binary, architecture, &json, out)
}

/// `oci-layout index`: one layout of `archives` (platform, docker-archive) at `out`, which
/// must not exist or be empty. Returns the digest of the image index.
pub fn index(archives: &[(&Platform, &Path)], tag: &str, out: &Path) -> Result<String, String> {
    let mut command = script();
    command
        .arg("index")
        .arg("--out")
        .arg(out)
        .args(["--tag", tag]);
    for (platform, archive) in archives {
        command.arg(format!("{}={}", platform.docker.spec(), archive.display()));
    }
    Ok(run(&mut command)?.trim().to_string())
}

/// Writes `dist/images/<name>.tar.gz` for every built row and `dist/oci/` of all of them.
pub fn dist_images(built: &[(Platform, PathBuf)]) -> Result<Images, String> {
    let root = crate::repo_root();
    let json = declaration_json()?;
    let declaration = parse_declaration(&json)?;
    let image_json = root.join("target/image.json");
    std::fs::create_dir_all(root.join("target")).map_err(|e| e.to_string())?;
    std::fs::write(&image_json, &json).map_err(|e| format!("{}: {e}", image_json.display()))?;

    let images = root.join("dist/images");
    std::fs::create_dir_all(&images).map_err(|e| format!("{}: {e}", images.display()))?;
    let archives: Vec<PathBuf> = built
        .iter()
        .map(|(platform, binary)| {
            let out = images.join(format!("{}.tar.gz", platform.name));
            let architecture = &platform.docker.architecture;
            archive(binary, architecture, &image_json, &out).map(|()| out)
        })
        .collect::<Result<_, _>>()?;

    let layout = root.join("dist/oci");
    if layout.exists() {
        std::fs::remove_dir_all(&layout).map_err(|e| format!("{}: {e}", layout.display()))?;
    }
    let pairs: Vec<(&Platform, &Path)> = built
        .iter()
        .zip(&archives)
        .map(|((platform, _), archive)| (platform, archive.as_path()))
        .collect();
    let index_digest = index(&pairs, &declaration.tag, &layout)?;
    Ok(Images {
        declaration,
        archives,
        layout,
        index_digest,
    })
}

/// The total size of the files under `dir`.
pub fn tree_size(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let meta = entry.metadata().map_err(|e| e.to_string())?;
        total += if meta.is_dir() {
            tree_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The entry of a docker-archive's `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveManifest {
    pub config: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

/// A docker-archive, read whole (they are a few KiB).
#[derive(Debug, Clone)]
pub struct DockerArchive {
    pub manifest: ArchiveManifest,
    pub config: serde_json::Value,
    /// The uncompressed layer tars, bottom first.
    pub layers: Vec<Vec<u8>>,
}

impl DockerArchive {
    /// Reads a docker-archive, gzip'd or not.
    pub fn read(path: &Path) -> Result<Self, String> {
        let tar = decompressed(path)?;
        let files = tar_files(&tar).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = |name: &str| {
            files
                .get(name)
                .ok_or_else(|| format!("{}: no {name}", path.display()))
        };
        let manifests: Vec<ArchiveManifest> = serde_json::from_slice(file("manifest.json")?)
            .map_err(|e| format!("{}: manifest.json: {e}", path.display()))?;
        let [manifest] = <[ArchiveManifest; 1]>::try_from(manifests)
            .map_err(|m| format!("{}: {} images, expected one", path.display(), m.len()))?;
        let config = serde_json::from_slice(file(&manifest.config)?)
            .map_err(|e| format!("{}: {}: {e}", path.display(), manifest.config))?;
        let layers = manifest
            .layers
            .iter()
            .map(|layer| file(layer).cloned())
            .collect::<Result<_, _>>()?;
        Ok(DockerArchive {
            manifest,
            config,
            layers,
        })
    }

    /// The image ID a runtime gives it: the digest of the config, named by the archive.
    pub fn image_id(&self) -> String {
        self.manifest.config.trim_end_matches(".json").to_string()
    }
}

/// The bytes of `path`, gunzipped if they are gzip'd.
pub fn decompressed(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// The regular files of a tar, by path without a leading `./`.
pub fn tar_files(tar: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?;
        let name = path.to_string_lossy().trim_start_matches("./").to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        files.insert(name, bytes);
    }
    Ok(files)
}

/// A descriptor of an OCI index (`index.json` or an image index blob).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<OciPlatform>,
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct OciPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// An OCI image index: `index.json`, or an index blob.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciIndex {
    pub schema_version: u32,
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// An OCI image manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciManifest {
    pub schema_version: u32,
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The blob `digest` of the layout at `layout`, checked against its digest.
pub fn blob(layout: &Path, digest: &str) -> Result<Vec<u8>, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("not a sha256 digest: {digest}"))?;
    let path = layout.join("blobs/sha256").join(hex);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if sha256_digest(&bytes) != digest {
        return Err(format!("{} does not hash to its name", path.display()));
    }
    Ok(bytes)
}

/// The blob `digest` of the layout at `layout`, parsed as JSON of type `T`.
pub fn json_blob<T: serde::de::DeserializeOwned>(layout: &Path, digest: &str) -> Result<T, String> {
    serde_json::from_slice(&blob(layout, digest)?).map_err(|e| format!("blob {digest}: {e}"))
}

/// Every file under `dir` by relative path, for comparing trees.
pub fn tree_files(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, String> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) -> Result<(), String> {
        for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                walk(root, &path, files)?;
            } else {
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                files.insert(relative, bytes);
            }
        }
        Ok(())
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files)?;
    Ok(files)
}
