"""Container images for the test node, built here from Debian's packages: no registry needed.

Every image ends as an OCI archive in the cache (``$SMOP_CACHE_DIR/images/NAME-KEY.oci.tar``),
which a node imports into containerd (``Node.import_image``). ``KEY`` hashes everything that
goes into the image, so a change rebuilds it and anything else reuses it, like
``tests/controlplane/build.sh`` does for binaries.

- :func:`debian_rootfs`: a root file system tarball made by ``mmdebstrap`` from the Debian
  release this machine runs, through the same apt sources it uses.
- :func:`build_image`: an image from such a rootfs (or none) plus files and an image config,
  made with ``buildah`` (``from scratch``, copy, ``config``, ``commit``).
- :func:`build_dockerfile`: ``buildah bud`` of a Dockerfile, with this machine's pip
  configuration (index, certificate authority, ...) passed through for the build only.
- :func:`python_base` and :func:`operator_image`: the project's own ``Dockerfile`` built on a
  Python base made from Debian packages (``--build-arg PYTHON_IMAGE=``), the image users build
  with ``docker build``. :func:`pause_image`: the pod sandbox, Kubernetes' own ``pause.c``
  from the pinned ``k8s.io/kubernetes`` module, compiled statically.

buildah runs as root with the ``vfs`` driver and ``chroot`` isolation (no overlay mounts, no
user namespaces, no daemon), each build in throw-away storage under the cache directory.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sagemaker_operator.devstack import controlplane

REPO_ROOT = controlplane.REPO_ROOT
INSTALL_PACKAGES = REPO_ROOT / "tests" / "node" / "install-packages.sh"
# How many builds of one image name to keep in the cache (older keys are pruned).
KEEP_PER_NAME = 3
# The operator's Python base: what the Dockerfile's default `python:3.11-slim-bookworm`
# gives, from Debian's own packages (`python` on PATH, venv and its bundled pip).
PYTHON_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# Documentation, manual pages and translations are no use in an image.
_DPKG_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/locale/*",
    "/usr/share/info/*",
)
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageBuildError(RuntimeError):
    """A build step failed; the message has the command and its output."""


@dataclass(frozen=True)
class Image:
    """A built image: the OCI archive and the reference it carries (``localhost/NAME:KEY``)."""

    archive: Path
    ref: str

    @property
    def name(self) -> str:
        return self.ref.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.ref.rsplit(":", 1)[1]


def images_dir() -> Path:
    directory = controlplane.cache_dir() / "images"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def ensure_tools() -> None:
    """Install buildah, mmdebstrap (and the node's packages) from Debian when missing."""
    if not all(shutil.which(tool) for tool in ("buildah", "mmdebstrap")):
        subprocess.run(["bash", str(INSTALL_PACKAGES)], check=True)


def _digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()[:16]


def tree_digest(
    root: Path, *, exclude: Sequence[str] = ("__pycache__", "*.pyc", "*.egg-info")
) -> str:
    """A hash of the files under ``root`` (paths, modes and contents)."""
    parts: list[str | bytes] = []
    for path in sorted(root.rglob("*")):
        if any(path.match(pattern) for pattern in exclude) or any(
            parent.match(pattern) for parent in path.parents for pattern in exclude
        ):
            continue
        if path.is_file():
            parts += [
                str(path.relative_to(root)),
                oct(path.stat().st_mode & 0o111),
                path.read_bytes(),
            ]
    return _digest(*parts)


def _run(command: Sequence[str], **kwargs: object) -> str:
    result = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        **kwargs,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        raise ImageBuildError(
            f"{shlex.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    out: str = result.stdout
    return out


@contextlib.contextmanager
def _cached(path: Path) -> Iterator[Path | None]:
    """Yield ``None`` when ``path`` exists, else a temporary path to write, then moved there.

    A lock file serialises two sessions that share a cache (a developer's run and CI)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            os.utime(path)  # most recently used: kept by _prune
            yield None
            return
        partial = path.with_name(path.name + ".partial")
        partial.unlink(missing_ok=True)
        yield partial
        partial.rename(path)


def _prune(directory: Path, prefix: str, suffix: str, keep: int = KEEP_PER_NAME) -> None:
    """Drop the least recently used builds of one name beyond ``keep``."""
    found = sorted(
        directory.glob(f"{prefix}-*{suffix}"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in found[keep:]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".lock").unlink(missing_ok=True)


# --- Debian root file systems -------------------------------------------------------------


def host_apt_sources() -> str:
    """The apt sources this machine uses (deb822 or one-line), as one text."""
    texts = []
    main = Path("/etc/apt/sources.list")
    if main.is_file():
        texts.append(main.read_text())
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*")):
        if path.suffix in (".list", ".sources"):
            texts.append(path.read_text())
    text = "\n".join(texts).strip()
    if not text:
        raise ImageBuildError("no apt sources on this machine (/etc/apt/sources.list[.d])")
    return text + "\n"


def host_suite() -> str:
    """The Debian release this machine runs (``VERSION_CODENAME``), e.g. ``bookworm``."""
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            return value.strip().strip('"')
    raise ImageBuildError("no VERSION_CODENAME in /etc/os-release")


def debian_rootfs(packages: Sequence[str], *, variant: str = "minbase") -> Path:
    """A root file system tarball with ``packages`` (mmdebstrap), cached by its recipe."""
    ensure_tools()
    sources, suite = host_apt_sources(), host_suite()
    key = _digest(suite, variant, " ".join(sorted(packages)), sources, " ".join(_DPKG_EXCLUDES))
    target = images_dir() / f"rootfs-{key}.tar"
    with _cached(target) as partial:
        if partial is not None:
            with tempfile.NamedTemporaryFile("w", suffix=".sources") as mirror:
                mirror.write(sources)
                mirror.flush()
                _run(
                    [
                        "mmdebstrap",
                        f"--variant={variant}",
                        f"--include={','.join(packages)}",
                        *(f"--dpkgopt=path-exclude={pattern}" for pattern in _DPKG_EXCLUDES),
                        # NB: an excluded path that a package's scripts need comes back:
                        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                        "--format=tar",
                        suite,
                        str(partial),
                        mirror.name,  # the sources to use, verbatim
                    ],
                    timeout=1800,
                )
            _prune(target.parent, "rootfs", ".tar", keep=2 * KEEP_PER_NAME)
    return target


# --- buildah ------------------------------------------------------------------------------


@dataclass
class _Buildah:
    """buildah with storage of its own (vfs, chroot isolation), removed afterwards."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "STORAGE_DRIVER": "vfs",
            "BUILDAH_ISOLATION": "chroot",
            # Neither the host's registries.conf nor its policy may send a build to a registry:
            # every base here is local (localhost/... or scratch).
            "REGISTRIES_CONFIG_PATH": str(self._registries_conf()),
        }

    def _registries_conf(self) -> Path:
        path = self.root / "registries.conf"
        path.write_text('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
        return path

    def __call__(self, *args: str, timeout: float = 1800) -> str:
        command = [
            "buildah",
            f"--root={self.root / 'storage'}",
            f"--runroot={self.root / 'run'}",
            "--storage-driver=vfs",
            *args,
        ]
        return _run(command, env=self.env, timeout=timeout).strip()


@contextlib.contextmanager
def _buildah() -> Iterator[_Buildah]:
    ensure_tools()
    root = Path(tempfile.mkdtemp(prefix="buildah-", dir=images_dir()))
    tool = _Buildah(root)
    try:
        yield tool
    finally:
        with contextlib.suppress(ImageBuildError):
            tool("rm", "--all")
        with contextlib.suppress(ImageBuildError):
            tool("rmi", "--all", "--force")
        shutil.rmtree(root, ignore_errors=True)


def _export(tool: _Buildah, image_id: str, ref: str, archive: Path) -> None:
    tool("push", "--quiet", image_id, f"oci-archive:{archive}:{ref}")


def _load_rootfs(tool: _Buildah, rootfs: Path, ref: str) -> str:
    """A local image ``ref`` made of nothing but ``rootfs``; returns its id."""
    container = tool("from", "--quiet", "scratch")
    mount = Path(tool("mount", container))
    _run(["tar", "--extract", "--numeric-owner", "--file", str(rootfs), "--directory", str(mount)])
    tool("umount", container)
    tool("config", f"--env=PATH={_PATH}", container)
    image_id = tool("commit", "--quiet", container, ref)
    tool("rm", container)
    return image_id


def build_image(
    name: str,
    *,
    rootfs: Path | None = None,
    files: Mapping[str, Path] | None = None,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Image:
    """An image of ``rootfs`` (a tarball, e.g. :func:`debian_rootfs`; ``None``: empty) plus
    ``files`` (``{path in the image: host file}``, mode kept) and the given config.

    Cached by a hash of all of it: the OCI archive is returned at once when it exists.
    """
    files = dict(files or {})
    config = {
        "entrypoint": list(entrypoint) if entrypoint is not None else None,
        "cmd": list(cmd) if cmd is not None else None,
        "user": user,
        "env": dict(env or {}),
        "workdir": workdir,
        "labels": dict(labels or {}),
    }
    parts: list[str | bytes] = [name, json.dumps(config, sort_keys=True)]
    parts.append(rootfs.name if rootfs is not None else "scratch")  # its name carries its key
    for dest, source in sorted(files.items()):
        parts += [dest, oct(source.stat().st_mode & 0o7777), source.read_bytes()]
    key = _digest(*parts)
    ref = f"localhost/{name}:{key}"
    archive = images_dir() / f"{name}-{key}.oci.tar"
    with _cached(archive) as partial:
        if partial is not None:
            with _buildah() as tool:
                container = tool("from", "--quiet", "scratch")
                mount = Path(tool("mount", container))
                if rootfs is not None:
                    _run(["tar", "-x", "--numeric-owner", "-f", str(rootfs), "-C", str(mount)])
                for dest, source in files.items():
                    target = mount / dest.lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
                tool("umount", container)
                options = [f"--env=PATH={_PATH}"]
                options += [f"--env={k}={v}" for k, v in sorted(config["env"].items())]  # type: ignore[union-attr]
                options += [f"--label={k}={v}" for k, v in sorted(config["labels"].items())]  # type: ignore[union-attr]
                if entrypoint is not None:
                    options.append(f"--entrypoint={json.dumps(list(entrypoint))}")
                if cmd is not None:
                    options.append(f"--cmd={json.dumps(list(cmd))}")
                if user is not None:
                    options.append(f"--user={user}")
                if workdir is not None:
                    options.append(f"--workingdir={workdir}")
                tool("config", *options, container)
                image_id = tool("commit", "--quiet", container, ref)
                _export(tool, image_id, ref, partial)
            _prune(archive.parent, name, ".oci.tar")
    return Image(archive, ref)


# --- Dockerfiles and pip ------------------------------------------------------------------


def host_pip_config() -> tuple[str, list[Path]]:
    """This machine's effective pip configuration as a ``pip.conf``, and the host paths it names.

    ``pip config list`` reports both the files and the ``PIP_*`` variables; a build sees them
    as ``/etc/pip.conf``, with each named file or folder (a CA bundle, a wheel folder) bind-
    mounted read-only at the same path. Nothing of it is written into the image.
    """
    listing = _run([sys.executable, "-m", "pip", "config", "list"], timeout=60)
    parser = configparser.ConfigParser(interpolation=None)
    parser.add_section("global")
    paths: list[Path] = []
    for line in listing.splitlines():
        name, _, raw = line.partition("=")
        if not raw:
            continue
        section, _, key = name.rpartition(".")
        section = "global" if section in (":env:", "") else section.lstrip(":")
        value = raw.strip().strip("'\"")
        if section not in ("global", "install", "download", "wheel"):
            continue
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
        for word in value.split():
            if word.startswith("/") and Path(word).exists():
                paths.append(Path(word))
    text = io.StringIO()
    parser.write(text)
    return text.getvalue(), sorted(set(paths))


def build_dockerfile(
    name: str,
    context: Path,
    *,
    key: str,
    build_args: Mapping[str, str] | None = None,
    base_images: Sequence[Image] = (),
) -> Image:
    """``buildah bud`` of ``context``'s Dockerfile as ``localhost/NAME:KEY`` (``key``: a hash
    of all that goes into it, the caller's to compute), with ``base_images`` loaded first."""
    ref = f"localhost/{name}:{key}"
    archive = images_dir() / f"{name}-{key}.oci.tar"
    with _cached(archive) as partial:
        if partial is not None:
            with _buildah() as tool:
                for base in base_images:
                    image_id = tool("pull", "--quiet", f"oci-archive:{base.archive}")
                    tool("tag", image_id.splitlines()[-1], base.ref)
                pip_conf, mounts = host_pip_config()
                conf = tool.root / "pip.conf"
                conf.write_text(pip_conf)
                volumes = [f"--volume={conf}:/etc/pip.conf:ro"]
                volumes += [f"--volume={path}:{path}:ro" for path in mounts]
                tool(
                    "bud",
                    "--quiet",
                    "--layers=false",
                    "--pull=never",
                    *(f"--build-arg={k}={v}" for k, v in sorted((build_args or {}).items())),
                    *volumes,
                    f"--tag={ref}",
                    str(context),
                )
                _export(tool, ref, ref, partial)
            _prune(archive.parent, name, ".oci.tar")
    return Image(archive, ref)


def python_base() -> Image:
    """The Dockerfile's ``PYTHON_IMAGE``, from Debian's packages: ``python`` with venv and pip."""
    rootfs = debian_rootfs(PYTHON_PACKAGES)
    key = _digest(rootfs.name, _PATH)
    ref = f"localhost/smop-python:{key}"
    archive = images_dir() / f"smop-python-{key}.oci.tar"
    with _cached(archive) as partial:
        if partial is not None:
            with _buildah() as tool:
                image_id = _load_rootfs(tool, rootfs, ref)
                _export(tool, image_id, ref, partial)
            _prune(archive.parent, "smop-python", ".oci.tar")
    return Image(archive, ref)


def operator_image() -> Image:
    """The project's ``Dockerfile``, built unchanged on :func:`python_base`, cached by a hash
    of the Dockerfile, its build context (pyproject.toml, README.md, operator/) and the base."""
    base = python_base()
    parts: list[str | bytes] = [base.ref]
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        parts += [name, (REPO_ROOT / name).read_bytes()]
    parts.append(tree_digest(REPO_ROOT / "operator"))
    key = _digest(*parts)
    return build_dockerfile(
        "sagemaker-operator",
        REPO_ROOT,
        key=key,
        build_args={"PYTHON_IMAGE": base.ref},
        base_images=[base],
    )


def kubernetes_module_dir() -> Path:
    """The pinned ``k8s.io/kubernetes`` module's source, from Go's module cache."""
    node_module = REPO_ROOT / "tests" / "controlplane" / "node"
    out = _run(
        ["go", "list", "-mod=mod", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"],
        cwd=node_module,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GONOSUMDB": "*", "GOSUMDB": "off"},
        timeout=600,
    ).strip()
    if not out:
        raise ImageBuildError("go list found no k8s.io/kubernetes module")
    return Path(out)


def pause_image() -> Image:
    """The pod sandbox image: Kubernetes' ``build/pause/linux/pause.c`` from the pinned
    module, compiled statically by the host's C compiler, alone in an image."""
    source = kubernetes_module_dir() / "build" / "pause" / "linux" / "pause.c"
    binary = images_dir() / f"pause-{_digest(source.read_bytes())}"
    with _cached(binary) as partial:
        if partial is not None:
            _run(
                ["cc", "-Os", "-static", "-DVERSION=smop", "-o", str(partial), str(source)],
                timeout=300,
            )
            _run(["strip", str(partial)])
    return build_image(
        "smop-pause", files={"/pause": binary}, entrypoint=["/pause"], user="65535:65535"
    )
