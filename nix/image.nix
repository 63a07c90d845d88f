# What every row's image holds and says, as plain data: nix/packages.nix hands it to
# dockerTools.buildImage, and the cargo path reads it with `nix-instantiate --eval --json`
# (scripts/oci-layout), so both paths build images from one declaration.
{
  platforms ? import ./platforms.nix { },
}:
let
  inherit (platforms) crate;
  # A scratch image that holds this one file and nothing else. `/pause` is the path of
  # Kubernetes' pause image: CRI-O's default `pause_command` runs it whatever the image says.
  binaryPath = "/pause";
in
{
  inherit (crate) name;
  # `docker load < result` gives sleeper:<version>.
  tag = crate.version;
  created = "1970-01-01T00:00:01Z";
  inherit binaryPath;
  config = {
    Entrypoint = [ binaryPath ];
    User = "65534:65534";
    Labels = {
      "org.opencontainers.image.title" = crate.name;
      "org.opencontainers.image.description" = crate.description;
      "org.opencontainers.image.version" = crate.version;
      "org.opencontainers.image.source" = crate.repository;
      "org.opencontainers.image.licenses" = crate.license;
    };
  };
}
