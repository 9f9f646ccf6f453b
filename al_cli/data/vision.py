"""Standard image benchmarks in the on-disk layouts of torchvision's own data set classes.

``dataset.root`` (``paths.data_dir`` by default) is the root handed to torchvision: MNIST lies
in ``root/MNIST/raw``, CIFAR-10 in ``root/cifar-10-batches-py``, SVHN in ``root/*_32x32.mat``.
Files that are present are read as they are; missing files are fetched with torchvision's own
download code when ``dataset.download=true``. Each split is decoded once into one tensor.
"""

from __future__ import annotations

import functools
import pickle
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import datasets as tvd
from torchvision.datasets.utils import download_and_extract_archive, download_url

from al_cli.data.images import image_split, to_float
from al_cli.data.split import DataSplit, fingerprint, loader
from al_cli.errors import UserError
from al_cli.files import missing_folders, remove_empty

Arrays = tuple[torch.Tensor, np.ndarray | torch.Tensor]
"""uint8 images ``[N, C, H, W]`` and integer labels ``[N]``."""


@dataclass(frozen=True)
class Source:
    """Where a benchmark's files lie under the root, how to fetch and how to read them."""

    title: str
    num_classes: int
    folder: Callable[[str], Path]
    files: list[str]
    fetch: Callable[[str], None]
    read: Callable[[str, bool], Arrays]
    pattern: str
    """``files`` in brace notation, short enough for a one-line message."""


def mnist_like(title: str, cls: type[tvd.MNIST]) -> Source:
    """MNIST, Fashion-MNIST, KMNIST: torchvision's class reads the unpacked IDX files (it
    checks only that they exist) and downloads them from its mirrors."""

    def read(root: str, train: bool) -> Arrays:
        data = cls(root, train=train, download=False)
        return data.data.unsqueeze(1), data.targets

    return Source(
        title,
        10,
        folder=lambda root: Path(root) / cls.__name__ / "raw",
        files=[Path(url).stem for url, _ in cls.resources],  # the names without .gz
        fetch=lambda root: cls(root, train=True, download=True),
        read=read,
        pattern="{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    )


class CifarUnpickler(pickle.Unpickler):
    """Reads a CIFAR batch and nothing else: a pickle may name any importable callable and have
    it called while loading (a crafted file runs commands), so only what the format holds is
    admitted: dicts, lists, strings, bytes and numbers (built without names) and numpy arrays,
    dtypes and scalars as numpy pickles them (``_reconstruct``, or ``_frombuffer`` in protocol
    5; ``_codecs.encode`` carries their bytes in protocol 2, the CIFAR files' own). Any other
    name is refused before it is imported."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}, which a CIFAR batch never holds: refused unread"
            )
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> dict:
    """One CIFAR batch file (a pickled dict), through :class:`CifarUnpickler`."""
    with open(path, "rb") as f:
        try:
            entry = CifarUnpickler(f, encoding="latin1").load()
        except pickle.UnpicklingError as err:
            raise pickle.UnpicklingError(f"{path.name}: {err}") from None
    if not isinstance(entry, dict):
        raise pickle.UnpicklingError(f"{path.name} holds a {type(entry).__name__}, not a batch")
    return entry


def cifar(title: str, cls: type[tvd.CIFAR10], num_classes: int, pattern: str) -> Source:
    """CIFAR-10/100: pickled batches of ``data`` rows (3x32x32, channel-major) and labels,
    read here because torchvision's class refuses any file whose MD5 differs from the
    release's; downloaded with torchvision's archive URL and checksum."""

    def folder(root: str) -> Path:
        return Path(root) / cls.base_folder

    def read(root: str, train: bool) -> Arrays:
        images, labels = [], []
        for name, _ in cls.train_list if train else cls.test_list:
            entry = read_cifar_batch(folder(root) / name)
            images.append(np.asarray(entry["data"], dtype=np.uint8))
            labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        x = np.concatenate(images).reshape(-1, 3, 32, 32)
        return torch.from_numpy(x), np.asarray(labels, dtype=np.int64)

    return Source(
        title,
        num_classes,
        folder=folder,
        files=[name for name, _ in cls.train_list + cls.test_list],
        fetch=lambda root: download_and_extract_archive(
            cls.url, root, filename=cls.filename, md5=cls.tgz_md5
        ),
        read=read,
        pattern=pattern,
    )


def svhn() -> Source:
    """SVHN: MATLAB files in the root itself, X as height x width x channel x N and the digit
    0 labelled 10; read here (torchvision's class checks MD5s too), fetched by its URLs."""
    splits = {name: tvd.SVHN.split_list[name] for name in ("train", "test")}

    def fetch(root: str) -> None:
        for url, filename, md5 in splits.values():
            if not (Path(root) / filename).is_file():
                download_url(url, root, filename, md5)

    def read(root: str, train: bool) -> Arrays:
        import scipy.io

        mat = scipy.io.loadmat(Path(root) / splits["train" if train else "test"][1])
        x = np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1)))  # HWCN -> NCHW
        y = mat["y"].astype(np.int64).reshape(-1)
        y[y == 10] = 0
        return torch.from_numpy(x), y

    files = [filename for _, filename, _ in splits.values()]
    return Source(
        "SVHN",
        10,
        folder=Path,
        files=files,
        fetch=fetch,
        read=read,
        pattern="{train,test}_32x32.mat",
    )


SOURCES: dict[str, Source] = {
    "mnist": mnist_like("MNIST", tvd.MNIST),
    "fashion_mnist": mnist_like("Fashion-MNIST", tvd.FashionMNIST),
    "kmnist": mnist_like("KMNIST", tvd.KMNIST),
    "cifar10": cifar("CIFAR-10", tvd.CIFAR10, 10, "{data_batch_{1,2,3,4,5},test_batch}"),
    "cifar100": cifar("CIFAR-100", tvd.CIFAR100, 100, "{train,test}"),
    "svhn": svhn(),
}


def ensure_files(source: Source, root: str, download: bool) -> None:
    """Fetch missing files if allowed; else one line naming where they were expected. A
    failed download removes the empty folders it made and says where to put the files."""
    folder = source.folder(root)
    missing = [f for f in source.files if not (folder / f).is_file()]
    if not missing:
        return
    if download:
        made = missing_folders(folder)
        try:
            source.fetch(root)
        except Exception as err:
            remove_empty(made)
            raise UserError(
                f"could not download {source.title} ({download_failure(err)}); put "
                f"{source.pattern} in {folder.resolve()} and run with dataset.download=false"
            ) from err
        missing = [f for f in source.files if not (folder / f).is_file()]
        if not missing:
            return
    raise UserError(
        f"{source.title} not found: expected {', '.join(missing)} in {folder.resolve()}; "
        f"run once with dataset.download=true where the internet is reachable, or copy the "
        f"files there (paths.data_dir or the AL_DATA_DIR environment variable sets the root)"
    )


def download_failure(err: Exception) -> str:
    """Why a download failed, in a few words: the network's own reason (torchvision's error
    lists every mirror it tried), else the error's first line."""
    text = str(err)
    reasons = re.findall(r"<urlopen error (?:\[Errno -?\d+\] )?([^>]*)>", text)
    if reasons:
        return "network error: " + " ".join(reasons[-1].split())
    first = " ".join(text.strip().splitlines()[:1]) or type(err).__name__
    return first if len(first) <= 80 else f"{first[:77]}..."


def load_torchvision(
    source: str,
    root: str,
    download: bool = True,
    mean: Sequence[float] = (),
    std: Sequence[float] = (),
    augment: bool = False,
    flip: bool = False,
) -> DataSplit:
    """A torchvision benchmark by name: its training set is the pool, its official test set the
    test set; pixels scaled to [0, 1], then normalised by ``dataset.mean``/``std``."""
    src = SOURCES[source]
    ensure_files(src, root, download)
    try:
        pool_x, pool_y = src.read(root, True)
        test_x, test_y = src.read(root, False)
    except Exception as err:
        reason = " ".join(str(err).split())
        raise UserError(
            f"{src.title} files in {src.folder(root).resolve()} cannot be read "
            f"({type(err).__name__}: {reason}); delete them and run with dataset.download=true"
        ) from err
    split = image_split(
        source,
        to_float(pool_x),
        pool_y,
        to_float(test_x),
        test_y,
        src.num_classes,
        mean,
        std,
        augment,
        flip,
    )
    return replace(split, fingerprint=fingerprint(pool_x, pool_y, test_x, test_y))


def torchvision_loader(source: str) -> Callable[..., DataSplit]:
    """The loader a dataset option names for one benchmark (``load_mnist``, ...): the rest of
    ``load_torchvision``'s arguments are the option's keys."""
    return loader(functools.partial(load_torchvision, source))


load_mnist = torchvision_loader("mnist")
load_fashion_mnist = torchvision_loader("fashion_mnist")
load_kmnist = torchvision_loader("kmnist")
load_cifar10 = torchvision_loader("cifar10")
load_cifar100 = torchvision_loader("cifar100")
load_svhn = torchvision_loader("svhn")
